//! Who is calling: caller lists as lookup sets, and the screening
//! policies that protect employees, compiled once per configuration.
//!
//! A list answers "is this caller on it" with one hash lookup for the exact numbers and one
//! per distinct prefix length among its prefixes (a handful), whatever its size, and
//! allocates nothing.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use cc_common::config::{AnonymousPolicy, CallerList, CallerPattern};

use super::Target;
use super::schedule::Schedule;

/// Who is calling, as routing sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller<'a> {
    /// From outside: the number (digits, optional leading `+`), `None` when withheld.
    Outside(Option<&'a str>),
    /// An employee's registered device: their extension.
    Employee(&'a str),
}

impl Caller<'_> {
    /// What list entries are compared with: digits without a leading `+`, or the
    /// extension; `None` for a withheld number.
    fn key(&self) -> Option<&str> {
        match self {
            Caller::Outside(None) => None,
            Caller::Outside(Some(n)) => Some(n.strip_prefix('+').unwrap_or(n)),
            Caller::Employee(extension) => Some(extension),
        }
    }
}

/// One caller list, ready for lookups.
#[derive(Debug, Clone, Default)]
struct Matcher {
    numbers: HashSet<Box<str>>,
    prefixes: HashSet<Box<str>>,
    /// The distinct lengths of `prefixes`, shortest first.
    prefix_lengths: Vec<usize>,
    anonymous: bool,
}

impl Matcher {
    fn new(list: &CallerList) -> Matcher {
        let mut m = Matcher::default();
        for entry in &list.entries {
            // Validated at load; an entry that does not parse matches nobody.
            match CallerPattern::parse(entry) {
                Ok(CallerPattern::Anonymous) => m.anonymous = true,
                Ok(CallerPattern::Number(n)) => {
                    m.numbers.insert(n.into());
                }
                Ok(CallerPattern::Prefix(p)) => {
                    if !m.prefix_lengths.contains(&p.len()) {
                        m.prefix_lengths.push(p.len());
                    }
                    m.prefixes.insert(p.into());
                }
                Err(_) => {}
            }
        }
        m.prefix_lengths.sort_unstable();
        m
    }

    fn holds(&self, caller: &Caller<'_>) -> bool {
        let Some(key) = caller.key() else {
            return self.anonymous;
        };
        self.numbers.contains(key)
            || self
                .prefix_lengths
                .iter()
                .take_while(|&&len| len <= key.len())
                .any(|&len| key.get(..len).is_some_and(|p| self.prefixes.contains(p)))
    }
}

/// The organisation's caller lists, addressed by [`ListId`].
#[derive(Debug, Clone, Default)]
pub(super) struct Lists {
    matchers: Vec<Matcher>,
    ids: HashMap<String, ListId>,
}

/// A caller list's index in [`Lists`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ListId(usize);

impl Lists {
    pub(super) fn new(lists: &[CallerList]) -> Lists {
        Lists {
            matchers: lists.iter().map(Matcher::new).collect(),
            ids: lists
                .iter()
                .enumerate()
                .map(|(i, l)| (l.id.clone(), ListId(i)))
                .collect(),
        }
    }

    /// The list with this id (validated at load: a missing one is skipped by its users).
    pub(super) fn id(&self, id: &str) -> Option<ListId> {
        self.ids.get(id).copied()
    }

    pub(super) fn holds(&self, list: ListId, caller: &Caller<'_>) -> bool {
        self.matchers.get(list.0).is_some_and(|m| m.holds(caller))
    }
}

/// A screening policy, compiled: see `cc_common::config::Screening` for the rule.
#[derive(Debug, Clone)]
pub(super) struct Policy {
    pub(super) dnd: Option<Arc<Schedule>>,
    pub(super) vip: Vec<ListId>,
    pub(super) never: Vec<ListId>,
    pub(super) limited: Vec<(ListId, Arc<Schedule>)>,
    pub(super) anonymous: AnonymousPolicy,
    /// Announce the calls it puts through.
    pub(super) announce: bool,
    pub(super) declined: Target,
}

impl Policy {
    /// Whether the call is put through at Unix time `now_unix`.
    pub(super) fn admits(&self, lists: &Lists, caller: &Caller<'_>, now_unix: i64) -> bool {
        let on = |ids: &[ListId]| ids.iter().any(|&l| lists.holds(l, caller));
        if on(&self.never) {
            return false;
        }
        if on(&self.vip) {
            return true;
        }
        if let Some((_, hours)) = self.limited.iter().find(|(l, _)| lists.holds(*l, caller)) {
            return hours.open_at(now_unix);
        }
        if *caller == Caller::Outside(None) && self.anonymous == AnonymousPolicy::Decline {
            return false;
        }
        !self.dnd.as_ref().is_some_and(|dnd| dnd.open_at(now_unix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lists(entries: &[&str]) -> Lists {
        Lists::new(&[CallerList {
            id: "l".into(),
            name: None,
            entries: entries.iter().map(|e| (*e).to_owned()).collect(),
        }])
    }

    #[test]
    fn numbers_prefixes_and_anonymous_match_as_listed() {
        let l = lists(&["+48221234567", "+4861*", "004822*", "7*"]);
        let id = l.id("l").unwrap();
        let holds = |c: Caller<'_>| l.holds(id, &c);
        assert!(holds(Caller::Outside(Some("48221234567"))));
        assert!(holds(Caller::Outside(Some("+48221234567"))));
        assert!(!holds(Caller::Outside(Some("+482212345678"))));
        assert!(holds(Caller::Outside(Some("+48610000000"))));
        assert!(holds(Caller::Outside(Some("0048220000000"))));
        assert!(holds(Caller::Outside(Some("7"))), "a prefix matches itself");
        assert!(!holds(Caller::Outside(Some("0049"))));
        assert!(!holds(Caller::Outside(None)), "not listed as anonymous");
        assert!(!holds(Caller::Employee("201")));
        let anonymous = lists(&["anonymous", "201"]);
        let id = anonymous.id("l").unwrap();
        assert!(anonymous.holds(id, &Caller::Outside(None)));
        assert!(anonymous.holds(id, &Caller::Employee("201")));
        assert!(anonymous.id("other").is_none());
    }
}
