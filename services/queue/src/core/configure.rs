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
//! - A department whose ownership this node lost ([`QueueCore::handle_disown`]) goes at
//!   once, waiting and offered calls with it, without a word about them: another queue node
//!   serves it now, and the calls' sip-edge nodes enqueue them there again. Configuring it
//!   again later starts it empty.

use std::collections::BTreeSet;
use std::time::Instant;

use super::agents::Membership;
use super::queue::{Department, Lifecycle};
use super::{CallId, DepartmentConfig, DepartmentId, QueueCore, QueueError};

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

    /// This node no longer owns the department (its queue moved to another node): the
    /// department is removed at once with every call waiting or being offered in it, and no
    /// output says so — no [`super::Output::CancelOffer`], `OfferFailed` or `QueueChanged` for
    /// those calls, because their sip-edge nodes enqueue them again at the new owner with their
    /// original enqueue time and priority, and ringing stops there. The agents reserved for
    /// them are free again in this core (presence lets its own reservations lapse, so nothing
    /// asks to release them there) and may be offered other departments' calls at once.
    ///
    /// Calls already answered stay in conversation until [`QueueCore::handle_call_ended`]:
    /// their agents really are busy, and their wrap-up follows as usual.
    ///
    /// Returns the calls removed, in line order. Configuring the department again
    /// ([`QueueCore::handle_configure`]) adds it afresh, with an empty queue. Refused with
    /// [`QueueError::UnknownDepartment`] for a department not served (nothing changes).
    pub fn handle_disown(
        &mut self,
        now: Instant,
        department: &DepartmentId,
    ) -> Result<Vec<CallId>, QueueError> {
        let d = self.department_idx(department)?;
        let queued = match self.departments.get_mut(d) {
            Some(department) => {
                department.pending.clear();
                std::mem::take(&mut department.queued)
            }
            None => Default::default(),
        };
        let mut removed = Vec::with_capacity(queued.len());
        for call in queued.into_values() {
            if let Some(entry) = self.calls.remove(&call) {
                for target in entry.offer.into_iter().flat_map(|o| o.targets) {
                    self.release(target.agent);
                }
            }
            removed.push(call);
        }
        self.remove_department(d);
        self.dispatch(now);
        Ok(removed)
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
    pub(crate) fn check_departments(
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
