//! Lost calls are called back (R-43): a caller who hangs up while waiting in a department's
//! queue (abandoned), or whom the employee they rang did not answer (missed), is owed a
//! callback when the number they dialled (or, for an abandoned call, the department) says
//! so. The call notes what it is owed with each routing step, and raises the callback
//! request when it ends without anyone having answered, a message left or a callback asked
//! for. Only callers from outside who show their number are called back.

use cc_common::config::Config;
use cc_proto::routing::internal::v1::decide_response::Step;
use tracing::info;

use super::actor::{Call, Phase, Side};
use super::{Automatic, CallEvent};

/// What a call is owed if nobody takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Lost {
    /// The caller waits in this department's queue, which calls back abandoned calls.
    Abandoned { department: String },
    /// The call rings this employee, and the number calls back missed calls.
    Missed { employee: String },
}

/// What a routing step makes a call from `dialed` owed (R-43), per `config`; `None` when
/// the step says nothing about it (a prompt, a menu: what was owed stays).
fn owed_by(config: &Config, dialed: &str, step: &Step) -> Option<Option<Lost>> {
    let dialed = dialed.strip_prefix('+').unwrap_or(dialed);
    let number = config.numbers.iter().find(|n| n.normalized() == dialed);
    match step {
        Step::Queue(q) => {
            let department = config.department(&q.department_id);
            let abandoned = number
                .and_then(|n| n.callback_abandoned)
                .or_else(|| department.map(|d| d.callback_abandoned))
                .unwrap_or(false);
            Some(abandoned.then(|| Lost::Abandoned {
                department: q.department_id.clone(),
            }))
        }
        Step::Dial(d) => {
            let missed = number.is_some_and(|n| n.callback_missed);
            Some(missed.then(|| Lost::Missed {
                employee: d.employee_id.clone(),
            }))
        }
        _ => None,
    }
}

impl Call {
    /// Notes what the call is owed after routing's `step`. A call turned away by screening
    /// is owed nothing (nor one declined by the employee it was announced to, see
    /// `decline_announced`): the employee chose.
    pub(super) fn note_lost(&mut self, step: Option<&Step>, turned_away: bool) {
        if turned_away || self.callback.is_some() || self.caller_number().is_none() {
            self.lost = None;
            return;
        }
        let Some(step) = step else { return };
        let Some(dialed) = self.dialed().map(str::to_owned) else {
            return;
        };
        if let Some(owed) = owed_by(&self.ctx.config(), &dialed, step) {
            self.lost = owed;
        }
    }

    /// Raises the callback request a call ending now (ended by `by`, because of `why`) is
    /// owed, if any.
    pub(super) fn call_back_if_lost(&mut self, by: Side, why: &str) {
        let Some(lost) = self.lost.take() else { return };
        if self.winner.is_some()
            || self.callback.is_some()
            || why == "message left"
            // Hung up while hearing the number read back after leaving a message.
            || self.farewell == "message left"
            || self.farewell == "callback requested"
        {
            return;
        }
        let Some(number) = self.caller_number().map(str::to_owned) else {
            return;
        };
        let (department, employee, automatic, priority) = match lost {
            Lost::Abandoned { department } => {
                // Abandoned: the caller hung up while still waiting, long enough.
                let Some(q) = self.queued.as_ref().filter(|_| self.phase == Phase::Queued) else {
                    return;
                };
                if by != Side::Caller {
                    return;
                }
                let waited_ms = super::unix_ms().saturating_sub(q.enqueued_at_unix_ms);
                let minimum = u64::from(self.ctx.config().callbacks.abandoned_after_seconds);
                if waited_ms < minimum * 1000 {
                    return;
                }
                (department, String::new(), Automatic::Abandoned, q.priority)
            }
            Lost::Missed { employee } => (String::new(), employee, Automatic::Missed, 0),
        };
        info!(call = %self.id, %department, %employee, %number, ?automatic, "a lost call is owed a callback");
        self.emit(CallEvent::CallbackRequested {
            id: self.id.clone(),
            department,
            employee,
            number,
            enqueued_at_unix_ms: super::unix_ms(),
            priority,
            keeps_place: false,
            automatic: Some(automatic),
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use cc_proto::routing::internal::v1 as routing;

    const CONFIG: &str = r#"
[sip]
listen = "127.0.0.1:5060"
domain = "cc.local"
[organization]
name = "Acme"
timezone = "Europe/Warsaw"
[[employees]]
id = "anna"
name = "Anna"
extension = "201"
sip_password = "secret-anna"
role = "user"
[[departments]]
id = "sales"
name = "Sales"
extension = "600"
strategy = "sequential"
members = ["anna"]
callback_abandoned = true
[[departments]]
id = "support"
name = "Support"
extension = "601"
strategy = "sequential"
members = ["anna"]
[[numbers]]
number = "+48221111111"
route = { department = "sales" }
[[numbers]]
number = "48222222222"
route = { department = "sales" }
callback_abandoned = false
callback_missed = true
"#;

    fn config() -> Config {
        Config::from_toml(CONFIG).unwrap()
    }

    fn queue(department: &str) -> Step {
        Step::Queue(routing::Queue {
            department_id: department.into(),
            priority: 0,
        })
    }

    fn dial(employee: &str) -> Step {
        Step::Dial(routing::Dial {
            employee_id: employee.into(),
            forward: None,
            announce: false,
        })
    }

    #[test]
    fn a_department_that_calls_back_abandoned_calls_is_owed_them_unless_the_number_says_not() {
        let c = config();
        assert_eq!(
            owed_by(&c, "48221111111", &queue("sales")),
            Some(Some(Lost::Abandoned {
                department: "sales".into()
            }))
        );
        assert_eq!(
            owed_by(&c, "+48221111111", &queue("support")),
            Some(None),
            "support does not call back"
        );
        assert_eq!(
            owed_by(&c, "48222222222", &queue("sales")),
            Some(None),
            "the number overrides the department"
        );
    }

    #[test]
    fn only_a_number_that_calls_back_missed_calls_owes_them() {
        let c = config();
        assert_eq!(
            owed_by(&c, "48222222222", &dial("anna")),
            Some(Some(Lost::Missed {
                employee: "anna".into()
            }))
        );
        assert_eq!(owed_by(&c, "48221111111", &dial("anna")), Some(None));
        // An extension dialled from outside is no number: nothing is owed.
        assert_eq!(owed_by(&c, "201", &dial("anna")), Some(None));
    }

    #[test]
    fn a_prompt_or_a_menu_leaves_what_was_owed() {
        let play = Step::Play(routing::Play {
            prompt: "welcome".into(),
        });
        assert_eq!(owed_by(&config(), "48221111111", &play), None);
    }
}
