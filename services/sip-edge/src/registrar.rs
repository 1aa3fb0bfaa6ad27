//! The registrar (RFC 3261 section 10.3) as a pure state machine: REGISTER requests and
//! `now` in; the current bindings, device events and the next expiry deadline out.
//!
//! An address of record is an employee's extension. It may have several contacts (desk
//! phone, softphone); each expires on its own. A binding that expires without being
//! refreshed raises [`RegistrarEvent::DeviceGone`] so presence can move the agent offline.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cc_sip::{Contact, NameAddr, Request, Transport};

#[derive(Debug, Clone)]
pub struct RegistrarConfig {
    pub min_expires: u32,
    pub max_expires: u32,
    pub default_expires: u32,
    pub max_contacts_per_aor: usize,
}

/// One registered device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub contact: NameAddr,
    /// The contact URI printed, the identity used to match refreshes.
    pub key: String,
    pub expires_at: Instant,
    pub call_id: String,
    pub cseq: u32,
    /// Where the REGISTER came from (NAT-facing address) and over what.
    pub source: SocketAddr,
    pub transport: Transport,
    pub user_agent: Option<String>,
}

impl Binding {
    pub fn remaining(&self, now: Instant) -> u32 {
        self.expires_at.saturating_duration_since(now).as_secs() as u32
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoneReason {
    /// Not refreshed before its expiry: the device disappeared.
    Expired,
    /// Removed by the device with Expires: 0.
    Unregistered,
    /// Pushed out by a newer binding when the address of record had too many.
    Replaced,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrarEvent {
    DeviceRegistered {
        aor: String,
        contact: String,
        source: SocketAddr,
    },
    DeviceGone {
        aor: String,
        contact: String,
        reason: GoneReason,
    },
}

/// Why a REGISTER was refused, mapped to a response by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterError {
    /// 423 with Min-Expires.
    IntervalTooBrief { min_expires: u32 },
    /// 400: `Contact: *` needs `Expires: 0` and no other contact.
    BadWildcard,
    /// 400: the request has no usable Call-ID/CSeq.
    Malformed(&'static str),
}

#[derive(Debug)]
pub struct Registrar {
    config: RegistrarConfig,
    bindings: HashMap<String, Vec<Binding>>,
    /// Expiry deadlines; entries whose binding was refreshed or removed are skipped lazily.
    expiries: BinaryHeap<Reverse<(Instant, String, String)>>,
    events: VecDeque<RegistrarEvent>,
}

impl Registrar {
    pub fn new(config: RegistrarConfig) -> Self {
        Registrar {
            config,
            bindings: HashMap::new(),
            expiries: BinaryHeap::new(),
            events: VecDeque::new(),
        }
    }

    /// Applies an authenticated REGISTER for `aor` and returns the bindings now in force.
    pub fn handle_register(
        &mut self,
        aor: &str,
        req: &Request,
        source: SocketAddr,
        transport: Transport,
        now: Instant,
    ) -> Result<Vec<Binding>, RegisterError> {
        let call_id = req
            .headers
            .call_id()
            .ok_or(RegisterError::Malformed("Call-ID"))?;
        let cseq = req
            .headers
            .cseq()
            .ok_or(RegisterError::Malformed("CSeq"))?
            .seq;
        let header_expires = req.headers.expires();
        let contacts: Vec<&Contact> = req.headers.contacts().collect();

        if contacts.iter().any(|c| matches!(c, Contact::Wildcard)) {
            if contacts.len() != 1 || header_expires != Some(0) {
                return Err(RegisterError::BadWildcard);
            }
            for b in self.bindings.remove(aor).unwrap_or_default() {
                self.gone(aor, b.key, GoneReason::Unregistered);
            }
            return Ok(Vec::new());
        }

        // Validate every contact before changing anything (RFC 3261 10.3 step 7 is atomic).
        let mut updates = Vec::with_capacity(contacts.len());
        for c in contacts {
            let Contact::Addr(addr) = c else { continue };
            let expires = c
                .expires()
                .or(header_expires)
                .unwrap_or(self.config.default_expires);
            if expires != 0 && expires < self.config.min_expires {
                return Err(RegisterError::IntervalTooBrief {
                    min_expires: self.config.min_expires,
                });
            }
            updates.push((addr, expires.min(self.config.max_expires)));
        }

        let list = self.bindings.entry(aor.to_owned()).or_default();
        let mut removed = Vec::new();
        let mut added = Vec::new();
        for (addr, expires) in updates {
            let key = addr.uri.to_string();
            let existing = list.iter().position(|b| b.key == key);
            if let Some(i) = existing {
                let b = &list[i];
                // A stale or replayed request from the same client must not undo a newer one.
                if b.call_id == call_id && cseq <= b.cseq {
                    continue;
                }
            }
            if expires == 0 {
                if let Some(i) = existing {
                    removed.push(list.remove(i).key);
                }
                continue;
            }
            let mut contact = addr.clone();
            contact.params.remove("expires");
            let binding = Binding {
                contact,
                key: key.clone(),
                expires_at: now + Duration::from_secs(u64::from(expires)),
                call_id: call_id.to_owned(),
                cseq,
                source,
                transport: transport.clone(),
                user_agent: req.headers.iter().find_map(|h| match h {
                    cc_sip::Header::UserAgent(ua) => Some(ua.to_string()),
                    _ => None,
                }),
            };
            self.expiries
                .push(Reverse((binding.expires_at, aor.to_owned(), key.clone())));
            match existing {
                Some(i) => list[i] = binding,
                None => {
                    list.push(binding);
                    added.push(key);
                }
            }
        }
        // Bounded: the oldest bindings make room for new devices.
        let mut replaced = Vec::new();
        while list.len() > self.config.max_contacts_per_aor {
            let oldest = list
                .iter()
                .enumerate()
                .min_by_key(|(_, b)| b.expires_at)
                .map(|(i, _)| i)
                .unwrap_or(0);
            replaced.push(list.remove(oldest).key);
        }
        let current = list.clone();
        if list.is_empty() {
            self.bindings.remove(aor);
        }
        for key in removed {
            self.gone(aor, key, GoneReason::Unregistered);
        }
        for key in replaced {
            added.retain(|k| *k != key);
            self.gone(aor, key, GoneReason::Replaced);
        }
        for contact in added {
            self.events.push_back(RegistrarEvent::DeviceRegistered {
                aor: aor.to_owned(),
                contact,
                source,
            });
        }
        Ok(current)
    }

    fn gone(&mut self, aor: &str, contact: String, reason: GoneReason) {
        self.events.push_back(RegistrarEvent::DeviceGone {
            aor: aor.to_owned(),
            contact,
            reason,
        });
    }

    /// The current bindings of `aor`, without the ones already past their expiry.
    pub fn bindings(&self, aor: &str, now: Instant) -> Vec<Binding> {
        self.bindings
            .get(aor)
            .map(|l| l.iter().filter(|b| b.expires_at > now).cloned().collect())
            .unwrap_or_default()
    }

    /// Every address of record with its live bindings.
    pub fn all(&self, now: Instant) -> Vec<(String, Vec<Binding>)> {
        let mut v: Vec<_> = self
            .bindings
            .keys()
            .map(|aor| (aor.clone(), self.bindings(aor, now)))
            .filter(|(_, b)| !b.is_empty())
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    pub fn binding_count(&self) -> usize {
        self.bindings.values().map(Vec::len).sum()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.expiries.peek().map(|Reverse((t, _, _))| *t)
    }

    /// Removes every binding whose time has come, raising `DeviceGone { Expired }`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, _, _))) = self.expiries.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((at, aor, key))) = self.expiries.pop() else {
                break;
            };
            let Some(list) = self.bindings.get_mut(&aor) else {
                continue;
            };
            // Only if this deadline is still the binding's current one (not refreshed since).
            let Some(i) = list.iter().position(|b| b.key == key && b.expires_at == at) else {
                continue;
            };
            list.remove(i);
            if list.is_empty() {
                self.bindings.remove(&aor);
            }
            self.gone(&aor, key, GoneReason::Expired);
        }
    }

    pub fn poll_event(&mut self) -> Option<RegistrarEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cc_sip::parse_message;

    fn registrar() -> Registrar {
        Registrar::new(RegistrarConfig {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 600,
            max_contacts_per_aor: 2,
        })
    }

    fn register(call_id: &str, cseq: u32, contacts: &str, expires: Option<u32>) -> Request {
        let exp = expires
            .map(|e| format!("Expires: {e}\r\n"))
            .unwrap_or_default();
        let contact = if contacts.is_empty() {
            String::new()
        } else {
            format!("Contact: {contacts}\r\n")
        };
        let raw = format!(
            "REGISTER sip:cc.local SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bK{cseq}\r\n\
             From: <sip:201@cc.local>;tag=a\r\nTo: <sip:201@cc.local>\r\nCall-ID: {call_id}\r\n\
             CSeq: {cseq} REGISTER\r\n{contact}{exp}Content-Length: 0\r\n\r\n"
        );
        match parse_message(raw.as_bytes()).unwrap() {
            cc_sip::Message::Request(r) => r,
            _ => unreachable!(),
        }
    }

    fn src() -> SocketAddr {
        "10.0.0.1:5062".parse().unwrap()
    }

    #[test]
    fn several_devices_expire_independently_and_raise_device_gone() {
        let mut r = registrar();
        let t0 = Instant::now();
        r.handle_register(
            "201",
            &register("c1", 1, "<sip:201@10.0.0.1:5062>", Some(60)),
            src(),
            Transport::Udp,
            t0,
        )
        .unwrap();
        let b = r
            .handle_register(
                "201",
                &register("c2", 1, "<sip:201@10.0.0.2:5062>;expires=120", None),
                src(),
                Transport::Udp,
                t0,
            )
            .unwrap();
        assert_eq!(b.len(), 2);
        assert!(matches!(
            r.poll_event(),
            Some(RegistrarEvent::DeviceRegistered { .. })
        ));
        assert!(matches!(
            r.poll_event(),
            Some(RegistrarEvent::DeviceRegistered { .. })
        ));
        assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(60)));
        r.handle_timeout(t0 + Duration::from_secs(60));
        assert_eq!(
            r.poll_event(),
            Some(RegistrarEvent::DeviceGone {
                aor: "201".into(),
                contact: "sip:201@10.0.0.1:5062".into(),
                reason: GoneReason::Expired
            })
        );
        assert_eq!(r.bindings("201", t0 + Duration::from_secs(61)).len(), 1);
        r.handle_timeout(t0 + Duration::from_secs(120));
        assert!(matches!(
            r.poll_event(),
            Some(RegistrarEvent::DeviceGone {
                reason: GoneReason::Expired,
                ..
            })
        ));
        assert_eq!(r.binding_count(), 0);
        assert_eq!(r.poll_timeout(), None);
    }

    #[test]
    fn refresh_moves_the_expiry_and_the_old_deadline_is_ignored() {
        let mut r = registrar();
        let t0 = Instant::now();
        r.handle_register(
            "201",
            &register("c1", 1, "<sip:201@10.0.0.1>", Some(60)),
            src(),
            Transport::Udp,
            t0,
        )
        .unwrap();
        r.handle_register(
            "201",
            &register("c1", 2, "<sip:201@10.0.0.1>", Some(120)),
            src(),
            Transport::Udp,
            t0 + Duration::from_secs(30),
        )
        .unwrap();
        r.handle_timeout(t0 + Duration::from_secs(60));
        assert_eq!(r.bindings("201", t0 + Duration::from_secs(60)).len(), 1);
        assert!(matches!(
            r.poll_event(),
            Some(RegistrarEvent::DeviceRegistered { .. })
        ));
        assert_eq!(
            r.poll_event(),
            None,
            "a refresh is not a new device and the old deadline raised nothing"
        );
    }

    #[test]
    fn expires_zero_removes_and_wildcard_removes_all() {
        let mut r = registrar();
        let t0 = Instant::now();
        r.handle_register(
            "201",
            &register("c1", 1, "<sip:201@10.0.0.1>, <sip:201@10.0.0.2>", Some(300)),
            src(),
            Transport::Udp,
            t0,
        )
        .unwrap();
        let left = r
            .handle_register(
                "201",
                &register("c1", 2, "<sip:201@10.0.0.1>;expires=0", None),
                src(),
                Transport::Udp,
                t0,
            )
            .unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(
            r.handle_register(
                "201",
                &register("c1", 3, "*", Some(5)),
                src(),
                Transport::Udp,
                t0
            ),
            Err(RegisterError::BadWildcard)
        );
        assert!(
            r.handle_register(
                "201",
                &register("c1", 3, "*", Some(0)),
                src(),
                Transport::Udp,
                t0
            )
            .unwrap()
            .is_empty()
        );
        let gone: Vec<_> = std::iter::from_fn(|| r.poll_event())
            .filter(|e| {
                matches!(
                    e,
                    RegistrarEvent::DeviceGone {
                        reason: GoneReason::Unregistered,
                        ..
                    }
                )
            })
            .collect();
        assert_eq!(gone.len(), 2);
    }

    #[test]
    fn too_brief_interval_is_refused_and_long_ones_are_capped() {
        let mut r = registrar();
        let t0 = Instant::now();
        assert_eq!(
            r.handle_register(
                "201",
                &register("c1", 1, "<sip:201@10.0.0.1>", Some(10)),
                src(),
                Transport::Udp,
                t0
            ),
            Err(RegisterError::IntervalTooBrief { min_expires: 60 })
        );
        let b = r
            .handle_register(
                "201",
                &register("c1", 2, "<sip:201@10.0.0.1>", Some(99999)),
                src(),
                Transport::Udp,
                t0,
            )
            .unwrap();
        assert_eq!(b[0].remaining(t0), 3600);
    }

    #[test]
    fn out_of_order_cseq_does_not_undo_a_newer_registration() {
        let mut r = registrar();
        let t0 = Instant::now();
        r.handle_register(
            "201",
            &register("c1", 5, "<sip:201@10.0.0.1>", Some(300)),
            src(),
            Transport::Udp,
            t0,
        )
        .unwrap();
        let b = r
            .handle_register(
                "201",
                &register("c1", 4, "<sip:201@10.0.0.1>", Some(0)),
                src(),
                Transport::Udp,
                t0,
            )
            .unwrap();
        assert_eq!(b.len(), 1);
    }

    #[test]
    fn contacts_per_aor_are_bounded_oldest_replaced() {
        let mut r = registrar();
        let t0 = Instant::now();
        for (i, host) in ["10.0.0.1", "10.0.0.2", "10.0.0.3"].iter().enumerate() {
            let t = t0 + Duration::from_secs(i as u64);
            r.handle_register(
                "201",
                &register(&format!("c{i}"), 1, &format!("<sip:201@{host}>"), Some(300)),
                src(),
                Transport::Udp,
                t,
            )
            .unwrap();
        }
        let keys: Vec<_> = r.bindings("201", t0).into_iter().map(|b| b.key).collect();
        assert_eq!(keys, vec!["sip:201@10.0.0.2", "sip:201@10.0.0.3"]);
        assert!(std::iter::from_fn(|| r.poll_event()).any(|e| matches!(
            e,
            RegistrarEvent::DeviceGone {
                reason: GoneReason::Replaced,
                ..
            }
        )));
    }
}
