//! The pure core of the store: the configuration as a revisioned snapshot, and the
//! resource operations that produce the next one. No locks, no channels: [`ConfigStore`]
//! (crate::ConfigStore) wraps one of these and publishes each new snapshot.
//!
//! Every write builds the whole candidate configuration, checks it with
//! [`Config::check`] (the same check as the file at start) and only then commits it, with
//! the global revision plus one; the written resource's etag becomes that revision. A
//! refused write changes nothing.

use std::collections::HashMap;
use std::sync::Arc;

use cc_common::config::{
    Action, AfterHours, CallerList, Config, ConfigError, Department, Destination, Employee, Number,
    Organization, Route, Scenario, Schedule, Screening, Trunk,
};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::resource::{Etag, Kind, Resource, Versioned, key_at};

/// One organisation's configuration, revisioned.
#[derive(Debug, Clone)]
pub struct ConfigState {
    config: Arc<Config>,
    /// +1 per accepted change; the loaded configuration is revision 1.
    revision: u64,
    /// The revision of each resource's last change: its etag.
    changed_at: HashMap<(Kind, String), u64>,
}

impl ConfigState {
    /// Revision 1 of `config`, after checking it; every resource starts with etag `r1`.
    pub fn new(config: Config) -> Result<Self, StoreError> {
        config.check().map_err(|e| invalid(e, &config, None))?;
        let mut changed_at = HashMap::new();
        for kind in Kind::ALL {
            let mut index = 0;
            while let Some(key) = key_at(&config, kind, index) {
                changed_at.insert((kind, key.to_owned()), 1);
                index += 1;
            }
        }
        Ok(Self {
            config: Arc::new(config),
            revision: 1,
            changed_at,
        })
    }

    /// The organisation part (what all nodes share) with its revision and etags, as the
    /// coordinator keeps it.
    pub fn to_stored(&self) -> Vec<u8> {
        let config = &self.config;
        let mut etags: Vec<StoredEtag> = self
            .changed_at
            .iter()
            .map(|((kind, key), revision)| StoredEtag {
                kind: *kind,
                key: key.clone(),
                revision: *revision,
            })
            .collect();
        etags.sort_by(|a, b| (a.kind, &a.key).cmp(&(b.kind, &b.key)));
        let stored = Stored {
            revision: self.revision,
            organization: config.organization.clone(),
            employees: config.employees.clone(),
            departments: config.departments.clone(),
            numbers: config.numbers.clone(),
            trunks: config.trunks.clone(),
            schedules: config.schedules.clone(),
            scenarios: config.scenarios.clone(),
            caller_lists: config.caller_lists.clone(),
            screening: config.screening.clone(),
            etags,
        };
        // Plain data with string keys: serialising it cannot fail.
        serde_json::to_vec(&stored).unwrap_or_default()
    }

    /// The state [`Self::to_stored`] wrote, with this node's own settings (`[sip]`,
    /// `[grpc]`, `[media]`) taken from `node`. The whole is checked like a file at start.
    pub fn from_stored(bytes: &[u8], node: &Config) -> Result<Self, StoreError> {
        let stored: Stored =
            serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let config = Config {
            organization: stored.organization,
            employees: stored.employees,
            departments: stored.departments,
            numbers: stored.numbers,
            trunks: stored.trunks,
            schedules: stored.schedules,
            scenarios: stored.scenarios,
            caller_lists: stored.caller_lists,
            screening: stored.screening,
            ..node.clone()
        };
        config
            .check()
            .map_err(|e| StoreError::Corrupt(format!("it does not pass the checks: {e}")))?;
        let changed_at = stored
            .etags
            .into_iter()
            .map(|e| ((e.kind, e.key), e.revision))
            .collect();
        Ok(Self {
            config: Arc::new(config),
            revision: stored.revision,
            changed_at,
        })
    }

    /// The current snapshot.
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// The revision of the current snapshot.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Every resource of a kind with its etag, in configured order.
    pub fn list<R: Resource>(&self) -> Vec<Versioned<R>> {
        R::all(&self.config)
            .iter()
            .map(|r| Versioned {
                etag: self.etag(R::KIND, r.key()),
                resource: r.clone(),
            })
            .collect()
    }

    /// One resource with its etag.
    pub fn get<R: Resource>(&self, key: &str) -> Result<Versioned<R>, StoreError> {
        let key = R::normalize_key(key);
        let resource = R::all(&self.config)
            .iter()
            .find(|r| r.key() == key)
            .ok_or_else(|| not_found(R::KIND, key))?;
        Ok(Versioned {
            resource: resource.clone(),
            etag: self.etag(R::KIND, key),
        })
    }

    /// Adds a resource whose key is not taken.
    pub fn create<R: Resource>(&mut self, resource: R) -> Result<Versioned<R>, StoreError> {
        let key = resource.key().to_owned();
        if R::all(&self.config).iter().any(|r| r.key() == key) {
            return Err(StoreError::AlreadyExists { kind: R::KIND, key });
        }
        let mut candidate = Config::clone(&self.config);
        let table = R::all_mut(&mut candidate);
        table.push(resource.clone());
        let index = table.len() - 1;
        let etag = self.commit(candidate, Some((R::KIND, index)), R::KIND, key)?;
        Ok(Versioned { resource, etag })
    }

    /// Replaces the resource with the same key, if `etag` is still its current etag.
    pub fn update<R: Resource>(
        &mut self,
        mut resource: R,
        etag: Etag,
    ) -> Result<Versioned<R>, StoreError> {
        let key = resource.key().to_owned();
        let index = self.index_of::<R>(&key)?;
        self.check_etag(R::KIND, &key, etag)?;
        let mut candidate = Config::clone(&self.config);
        let table = R::all_mut(&mut candidate);
        if let Some(current) = table.get_mut(index) {
            resource.keep_write_only(current);
            *current = resource.clone();
        }
        let etag = self.commit(candidate, Some((R::KIND, index)), R::KIND, key)?;
        Ok(Versioned { resource, etag })
    }

    /// Removes a resource nothing refers to, if `etag` is still its current etag.
    pub fn delete<R: Resource>(&mut self, key: &str, etag: Etag) -> Result<(), StoreError> {
        let key = R::normalize_key(key).to_owned();
        let index = self.index_of::<R>(&key)?;
        self.check_etag(R::KIND, &key, etag)?;
        if let Some(by) = reference_to(&self.config, R::KIND, &key) {
            return Err(StoreError::Referenced {
                kind: R::KIND,
                key,
                by,
            });
        }
        let mut candidate = Config::clone(&self.config);
        R::all_mut(&mut candidate).remove(index);
        self.commit(candidate, None, R::KIND, key.clone())?;
        self.changed_at.remove(&(R::KIND, key));
        Ok(())
    }

    fn index_of<R: Resource>(&self, key: &str) -> Result<usize, StoreError> {
        R::all(&self.config)
            .iter()
            .position(|r| r.key() == key)
            .ok_or_else(|| not_found(R::KIND, key))
    }

    fn etag(&self, kind: Kind, key: &str) -> Etag {
        // Every resource has an entry; the fallback only guards against a bug.
        let revision = self
            .changed_at
            .get(&(kind, key.to_owned()))
            .copied()
            .unwrap_or(self.revision);
        Etag(revision)
    }

    fn check_etag(&self, kind: Kind, key: &str, given: Etag) -> Result<(), StoreError> {
        let current = self.etag(kind, key);
        if given == current {
            Ok(())
        } else {
            Err(StoreError::Conflict {
                kind,
                key: key.to_owned(),
                given,
                current,
            })
        }
    }

    /// Checks the candidate and makes it the current snapshot at the next revision, which
    /// becomes the etag of the written resource.
    fn commit(
        &mut self,
        candidate: Config,
        written: Option<(Kind, usize)>,
        kind: Kind,
        key: String,
    ) -> Result<Etag, StoreError> {
        candidate
            .check()
            .map_err(|e| invalid(e, &candidate, written))?;
        self.revision += 1;
        self.config = Arc::new(candidate);
        self.changed_at.insert((kind, key), self.revision);
        Ok(Etag(self.revision))
    }
}

/// The stored form: the organisation's tables, the revision and every resource's etag.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    revision: u64,
    organization: Organization,
    employees: Vec<Employee>,
    departments: Vec<Department>,
    numbers: Vec<Number>,
    trunks: Vec<Trunk>,
    /// Absent in what nodes before schedules stored; left out when empty, so that such
    /// nodes can still read a configuration without schedules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    schedules: Vec<Schedule>,
    /// Likewise for scenarios.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    scenarios: Vec<Scenario>,
    /// Likewise for caller lists (a number's `priority` and `rules` and an employee's
    /// `priority` are left out at their defaults too).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    caller_lists: Vec<CallerList>,
    /// Likewise for screening policies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    screening: Vec<Screening>,
    etags: Vec<StoredEtag>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredEtag {
    kind: Kind,
    key: String,
    revision: u64,
}

fn not_found(kind: Kind, key: &str) -> StoreError {
    StoreError::NotFound {
        kind,
        key: key.to_owned(),
    }
}

/// The first entry of `config` that refers to the resource, described for the caller.
fn reference_to(config: &Config, kind: Kind, key: &str) -> Option<String> {
    let routes_to = |route: &dyn Fn(&Route) -> bool, after_hours: &dyn Fn(&AfterHours) -> bool| {
        config.numbers.iter().find_map(|n| {
            if n.route.as_ref().is_some_and(route) {
                Some(format!("number {:?} routes to it", n.number))
            } else if n.after_hours.as_ref().is_some_and(after_hours) {
                Some(format!("number {:?} routes to it after hours", n.number))
            } else {
                None
            }
        })
    };
    // The first scenario operation `names` the resource.
    let operation_names = |names: &dyn Fn(Action<'_>) -> bool| {
        config.scenarios.iter().find_map(|s| {
            let op = s
                .operations
                .iter()
                .find(|o| o.action().is_some_and(names))?;
            Some(format!(
                "operation {:?} of scenario {:?} names it",
                op.id, s.id
            ))
        })
    };
    // The first caller rule or screening policy that sends calls to `to`.
    let sends_to = |to: &dyn Fn(&Destination) -> bool| {
        config
            .numbers
            .iter()
            .find_map(|n| {
                let rule = n.rules.iter().find(|r| r.goto.as_ref().is_some_and(to))?;
                Some(format!(
                    "number {:?} sends callers on {:?} to it",
                    n.number, rule.callers
                ))
            })
            .or_else(|| {
                let policy = config.screening.iter().find(|p| to(&p.declined))?;
                Some(format!(
                    "the screening policy of {:?} sends the calls it turns away to it",
                    policy.employee
                ))
            })
    };
    // Messages are taken for it: a number after hours, a scenario operation, a rule or a
    // screening policy.
    let takes_messages = |key: &str| {
        let named = |d: &Destination| matches!(d, Destination::Message(m) | Destination::Callback(m) if m == key);
        routes_to(&|_| false, &named)
            .or_else(|| {
                operation_names(
                    &|a| matches!(a, Action::Message(m) | Action::Callback(m) if m == key),
                )
            })
            .or_else(|| sends_to(&named))
    };
    match kind {
        Kind::Employee => config
            .departments
            .iter()
            .find(|d| d.members.iter().any(|m| m == key))
            .map(|d| format!("department {:?} lists it in members", d.id))
            .or_else(|| {
                routes_to(
                    &|r| matches!(r, Route::Employee(e) if e == key),
                    &|a| matches!(a, AfterHours::Employee(e) if e == key),
                )
            })
            .or_else(|| operation_names(&|a| matches!(a, Action::Dial(d) if d.employee == key)))
            .or_else(|| {
                config
                    .screening_of(key)
                    .map(|_| "a screening policy protects it".to_owned())
            })
            .or_else(|| sends_to(&|d| matches!(d, Destination::Employee(e) if e == key)))
            .or_else(|| takes_messages(key)),
        Kind::Department => routes_to(
            &|r| matches!(r, Route::Department(d) if d == key),
            &|a| matches!(a, AfterHours::Department(d) if d == key),
        )
        .or_else(|| operation_names(&|a| matches!(a, Action::Queue(q) if q.department == key)))
        .or_else(|| sends_to(&|d| matches!(d, Destination::Department(x) if x == key)))
        .or_else(|| takes_messages(key)),
        Kind::Schedule => config
            .numbers
            .iter()
            .find(|n| n.schedule.as_deref() == Some(key))
            .map(|n| format!("number {:?} follows it", n.number))
            .or_else(|| {
                config
                    .departments
                    .iter()
                    .find(|d| d.schedule.as_deref() == Some(key))
                    .map(|d| format!("department {:?} follows it", d.id))
            })
            .or_else(|| {
                config.screening.iter().find_map(|p| {
                    if p.dnd.as_deref() == Some(key) {
                        Some(format!(
                            "the screening policy of {:?} follows it for do-not-disturb",
                            p.employee
                        ))
                    } else {
                        let limited = p.limited.iter().find(|l| l.schedule == key)?;
                        Some(format!(
                            "the screening policy of {:?} puts callers on {:?} through by it",
                            p.employee, limited.callers
                        ))
                    }
                })
            }),
        Kind::Scenario => config
            .numbers
            .iter()
            .find_map(|n| {
                if n.scenario.as_deref() == Some(key) {
                    Some(format!("number {:?} walks it", n.number))
                } else if matches!(&n.after_hours, Some(AfterHours::Scenario(s)) if s == key) {
                    Some(format!("number {:?} walks it after hours", n.number))
                } else {
                    None
                }
            })
            .or_else(|| sends_to(&|d| matches!(d, Destination::Scenario(s) if s == key))),
        Kind::CallerList => config
            .numbers
            .iter()
            .find(|n| n.rules.iter().any(|r| r.callers == key))
            .map(|n| format!("a rule of number {:?} is for its callers", n.number))
            .or_else(|| {
                config.screening.iter().find_map(|p| {
                    let names = |ids: &[String]| ids.iter().any(|id| id == key);
                    let field = if names(&p.vip) {
                        "vip"
                    } else if names(&p.never) {
                        "never"
                    } else if p.limited.iter().any(|l| l.callers == key) {
                        "limited"
                    } else {
                        return None;
                    };
                    Some(format!(
                        "the screening policy of {:?} lists it in {field}",
                        p.employee
                    ))
                })
            }),
        // Mobile forwarding takes whichever trunk is first; a transfer may name one.
        Kind::Trunk => operation_names(
            &|a| matches!(a, Action::Transfer(t) if t.trunk.as_deref() == Some(key)),
        ),
        Kind::Number | Kind::Screening => None,
    }
}

/// A validation error with its field named for an API caller: the written resource as the
/// request field (`employee.extension`), other entries by key (`departments["sales"]`).
fn invalid(error: ConfigError, config: &Config, written: Option<(Kind, usize)>) -> StoreError {
    match error {
        ConfigError::Invalid { field, reason } => StoreError::Invalid {
            field: rename_field(&field, config, written),
            reason,
        },
        other => StoreError::Invalid {
            field: "config".into(),
            reason: other.to_string(),
        },
    }
}

fn rename_field(field: &str, config: &Config, written: Option<(Kind, usize)>) -> String {
    let Some((table, rest)) = field.split_once('[') else {
        return field.to_owned();
    };
    let Some(kind) = Kind::ALL.into_iter().find(|k| k.table() == table) else {
        return field.to_owned();
    };
    let Some((index, tail)) = rest.split_once(']') else {
        return field.to_owned();
    };
    let Ok(index) = index.parse::<usize>() else {
        return field.to_owned();
    };
    if written == Some((kind, index)) {
        return format!("{}{tail}", kind.name());
    }
    match key_at(config, kind, index) {
        Some(key) => format!("{table}[{key:?}]{tail}"),
        None => field.to_owned(),
    }
}

#[cfg(test)]
mod callers_tests;
#[cfg(test)]
mod tests;
