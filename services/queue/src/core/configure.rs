//! The departments a core serves, at start and as the configuration changes at run time.
//!
//! Rules:
//! - A change (strategy, ring times, wrap-up, members and their order) applies from the
//!   next plan on. A plan already ringing runs to its end unchanged, a call in conversation
//!   keeps the wrap-up it was answered with, and waiting calls keep their place.
//! - A member taken out of a department is out of its next plans; an agent who is no
//!   department's member any more stays known (presence may still report them).
//! - A department removed while its queue is empty is gone at once. One whose queue still
//!   has calls **closes**: it refuses new calls ([`QueueError::DepartmentClosing`]) but keeps
//!   its members and serves the calls already waiting, and is removed when the last one is
//!   answered or leaves. Configuring it again before that reopens it, queue intact.

use std::collections::BTreeSet;
use std::time::Instant;

use super::agents::Membership;
use super::queue::{Department, Lifecycle};
use super::{DepartmentConfig, DepartmentId, QueueCore, QueueError};

/// What [`QueueCore::handle_configure`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconfigured {
    /// New departments.
    pub added: Vec<DepartmentId>,
    /// Departments whose configuration changed (a closing one reopened included).
    pub updated: Vec<DepartmentId>,
    /// Departments removed at once (their queue was empty).
    pub removed: Vec<DepartmentId>,
    /// Departments closed: removed when their waiting calls are gone.
    pub closing: Vec<DepartmentId>,
}

impl QueueCore {
    /// Makes the served departments `departments`: adds the new ones, applies changes to the
    /// existing ones and removes (or closes) the others; see the module rules. Everything is
    /// checked first, so an `Err` changes nothing. Then offers whatever became possible.
    pub fn handle_configure(
        &mut self,
        now: Instant,
        departments: Vec<DepartmentConfig>,
    ) -> Result<Reconfigured, QueueError> {
        self.check_departments(&departments)?;
        let wanted: BTreeSet<&DepartmentId> = departments.iter().map(|d| &d.id).collect();
        let gone: Vec<usize> = self
            .department_index
            .iter()
            .filter(|(id, _)| !wanted.contains(id))
            .map(|(_, d)| *d)
            .collect();
        let mut done = Reconfigured::default();
        for d in gone {
            let Some(department) = self.departments.get_mut(d) else {
                continue;
            };
            let id = department.id.clone();
            if department.queued.is_empty() {
                self.remove_department(d);
                done.removed.push(id);
            } else if department.lifecycle == Lifecycle::Open {
                department.lifecycle = Lifecycle::Closing;
                done.closing.push(id);
            }
        }
        for config in departments {
            match self.department_index.get(&config.id).copied() {
                None => {
                    done.added.push(config.id.clone());
                    self.add_department(config);
                }
                Some(d) => {
                    let changed = self.departments.get(d).is_some_and(|department| {
                        department.config != config || department.lifecycle != Lifecycle::Open
                    });
                    if changed {
                        done.updated.push(config.id.clone());
                        self.update_department(d, &config);
                    }
                }
            }
        }
        done.removed.sort();
        done.closing.sort();
        self.dispatch(now);
        Ok(done)
    }

    /// Departments served, in the order they were first configured (closing ones included).
    pub fn departments(&self) -> Vec<DepartmentId> {
        self.departments
            .iter()
            .filter(|d| d.lifecycle != Lifecycle::Removed)
            .map(|d| d.id.clone())
            .collect()
    }

    /// A department's members in configured order.
    pub fn members(&self, department: &DepartmentId) -> Result<Vec<super::AgentId>, QueueError> {
        let d = self.department_idx(department)?;
        let department = self.department(d)?;
        Ok(department
            .members
            .iter()
            .filter_map(|a| self.agents.get(*a).map(|agent| agent.id.clone()))
            .collect())
    }

    /// Refuses departments the core cannot serve: a repeated id, a member listed twice, a
    /// zero ring time.
    pub(super) fn check_departments(
        &self,
        departments: &[DepartmentConfig],
    ) -> Result<(), QueueError> {
        let mut ids = BTreeSet::new();
        for config in departments {
            if !ids.insert(&config.id) {
                return Err(QueueError::DuplicateDepartment(config.id.clone()));
            }
            let mut seen = BTreeSet::new();
            for member in &config.members {
                if !seen.insert(&member.agent) {
                    return Err(QueueError::DuplicateMember {
                        department: config.id.clone(),
                        agent: member.agent.clone(),
                    });
                }
                if config.ring_of(member).is_zero() {
                    return Err(QueueError::ZeroRingTime {
                        department: config.id.clone(),
                        agent: member.agent.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Adds a checked department in a new slot.
    pub(super) fn add_department(&mut self, config: DepartmentConfig) {
        let d = self.departments.len();
        self.departments.push(Department::new(&config));
        self.department_index.insert(config.id.clone(), d);
        self.attach_members(d, &config);
    }

    /// Applies a checked configuration to an existing department (reopening it if closing).
    fn update_department(&mut self, d: usize, config: &DepartmentConfig) {
        self.detach_members(d);
        if let Some(department) = self.departments.get_mut(d) {
            department.apply(config);
        }
        self.attach_members(d, config);
    }

    /// Removes a department whose queue is empty; its slot stays, empty.
    fn remove_department(&mut self, d: usize) {
        self.detach_members(d);
        if let Some(department) = self.departments.get_mut(d) {
            department.lifecycle = Lifecycle::Removed;
            self.department_index.remove(&department.id);
        }
        self.dirty.remove(&d);
    }

    /// Removes a closing department once its last call has left.
    pub(super) fn remove_if_drained(&mut self, d: usize) {
        if self
            .departments
            .get(d)
            .is_some_and(|dep| dep.lifecycle == Lifecycle::Closing && dep.queued.is_empty())
        {
            self.remove_department(d);
        }
    }

    /// Makes the configured members the department's members, in order, and indexes those
    /// available under the department's strategy.
    fn attach_members(&mut self, d: usize, config: &DepartmentConfig) {
        let mut members = Vec::with_capacity(config.members.len());
        for (position, member) in config.members.iter().enumerate() {
            let a = self.agents.find_or_insert(&member.agent);
            members.push(a);
            if let Some(agent) = self.agents.get_mut(a) {
                agent.memberships.push(Membership {
                    department: d,
                    position: u32::try_from(position).unwrap_or(u32::MAX),
                    ring: config.ring_of(member),
                    indexed: None,
                });
            }
        }
        if let Some(department) = self.departments.get_mut(d) {
            department.members.clone_from(&members);
        }
        for a in members {
            self.sync_agent(a);
        }
        self.dirty.insert(d);
    }

    /// Takes every member out of the department (and its available index).
    fn detach_members(&mut self, d: usize) {
        let Some(department) = self.departments.get_mut(d) else {
            return;
        };
        for a in std::mem::take(&mut department.members) {
            if let Some(agent) = self.agents.get_mut(a) {
                agent.memberships.retain(|m| m.department != d);
            }
        }
        department.available.clear();
    }
}
