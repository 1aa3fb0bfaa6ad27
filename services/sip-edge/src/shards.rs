//! Presence shards as the sip-edge sees them: which shard an agent or a phone's extension
//! belongs to (so each report goes to the owner of that shard), and which shards got a new
//! owner (a new owner knows nothing of its shards' phones and calls until told again).

use std::collections::{BTreeMap, BTreeSet};

use cc_cluster::{Owner, Revision, keys};
use cc_common::Config;

/// The presence shard that answers for the phones of `extension`: the shard of the employee
/// whose extension it is, shard 0 for an extension that is no employee's (any presence
/// node can say "not an agent").
pub fn extension_shard(config: &Config, extension: &str) -> u32 {
    config
        .employee_by_extension(extension)
        .map_or(0, |e| keys::presence_shard(e.id.as_str()))
}

/// The agents of `held` (each with whether it answered the call) whose presence shard is
/// one of `shards`, in their order: the ones a new owner of those shards must hear of.
pub fn agents_in_shards(held: Vec<(String, bool)>, shards: &BTreeSet<u32>) -> Vec<(String, bool)> {
    held.into_iter()
        .filter(|(agent, _)| shards.contains(&keys::presence_shard(agent)))
        .collect()
}

/// The owner token last seen for each presence shard, to tell which shards got a new owner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnerTokens {
    known: BTreeMap<u32, Revision>,
}

impl OwnerTokens {
    /// Starts from the owners as they are now: none of them counts as new.
    pub fn new(owners: &BTreeMap<String, Owner>) -> Self {
        let mut tokens = Self::default();
        tokens.moved(owners);
        tokens
    }

    /// The shards whose owner is new since the last call (a token not seen before for the
    /// shard, a first owner included), remembering the new tokens. A shard left without an
    /// owner keeps its last token: it has not moved until a new owner appears.
    pub fn moved(&mut self, owners: &BTreeMap<String, Owner>) -> BTreeSet<u32> {
        let mut moved = BTreeSet::new();
        for (shard, token) in shard_tokens(owners) {
            if self.known.insert(shard, token) != Some(token) {
                moved.insert(shard);
            }
        }
        moved
    }
}

/// Each presence shard's owner token, from the owners keyed by the shard number; other
/// names are ignored.
fn shard_tokens(owners: &BTreeMap<String, Owner>) -> impl Iterator<Item = (u32, Revision)> + '_ {
    owners.iter().filter_map(|(name, owner)| {
        let shard = name.parse::<u32>().ok()?;
        (shard < keys::PRESENCE_SHARDS).then_some((shard, owner.token))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use cc_cluster::NodeInfo;

    use super::*;

    fn owners(list: &[(&str, Revision)]) -> BTreeMap<String, Owner> {
        list.iter()
            .map(|(name, token)| {
                let node = NodeInfo {
                    service: "presence".into(),
                    node: format!("p-{token}"),
                    address: "http://127.0.0.1:1".into(),
                    load: 0,
                };
                (
                    (*name).to_owned(),
                    Owner {
                        node,
                        token: *token,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn only_shards_with_a_new_token_have_moved() {
        let mut tokens = OwnerTokens::new(&owners(&[("0", 10), ("1", 11), ("2", 12)]));
        assert!(
            tokens
                .moved(&owners(&[("0", 10), ("1", 11), ("2", 12)]))
                .is_empty()
        );
        let moved = tokens.moved(&owners(&[("0", 10), ("1", 21), ("2", 22)]));
        assert_eq!(moved, BTreeSet::from([1, 2]));
    }

    #[test]
    fn a_shard_without_owner_moves_when_a_new_owner_appears() {
        let mut tokens = OwnerTokens::new(&owners(&[("0", 10), ("3", 13)]));
        // Shard 3's owner died: no owner yet, nothing moved.
        assert!(tokens.moved(&owners(&[("0", 10)])).is_empty());
        // The same owner seen again (a watch hiccup) is no move either.
        assert!(tokens.moved(&owners(&[("0", 10), ("3", 13)])).is_empty());
        assert!(tokens.moved(&owners(&[("0", 10)])).is_empty());
        assert_eq!(
            tokens.moved(&owners(&[("0", 10), ("3", 30)])),
            BTreeSet::from([3])
        );
    }

    #[test]
    fn a_first_owner_is_a_move_and_other_names_are_ignored() {
        let mut tokens = OwnerTokens::new(&owners(&[]));
        let moved = tokens.moved(&owners(&[("5", 15), ("x", 16), ("8", 17)]));
        assert_eq!(moved, BTreeSet::from([5]));
    }

    #[test]
    fn a_call_reports_only_its_agents_of_the_moved_shards() {
        let a = "anna";
        let b = (0..100)
            .map(|i| format!("agent-{i}"))
            .find(|x| keys::presence_shard(x) != keys::presence_shard(a))
            .unwrap();
        let held = vec![(a.to_owned(), true), (b.clone(), false)];
        let only_a = BTreeSet::from([keys::presence_shard(a)]);
        assert_eq!(
            agents_in_shards(held.clone(), &only_a),
            vec![(a.to_owned(), true)]
        );
        let only_b = BTreeSet::from([keys::presence_shard(&b)]);
        assert_eq!(agents_in_shards(held.clone(), &only_b), vec![(b, false)]);
        let all: BTreeSet<u32> = (0..keys::PRESENCE_SHARDS).collect();
        assert_eq!(agents_in_shards(held.clone(), &all), held);
        assert!(agents_in_shards(held, &BTreeSet::new()).is_empty());
    }

    #[test]
    fn an_extension_goes_to_its_employees_shard_and_any_other_to_shard_zero() {
        let config = Config::from_toml(
            r#"
[sip]
listen = "127.0.0.1:5060"
domain = "cc.local"
[[employees]]
id = "anna"
name = "Anna"
extension = "201"
sip_password = "secret"
role = "user"
"#,
        )
        .unwrap();
        assert_eq!(
            extension_shard(&config, "201"),
            keys::presence_shard("anna")
        );
        assert_eq!(extension_shard(&config, "999"), 0);
    }
}
