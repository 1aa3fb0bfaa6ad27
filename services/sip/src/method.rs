//! SIP request methods.

use std::fmt;

/// A request method. Extension methods are kept by name (case-sensitive, RFC 3261 7.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Register,
    Options,
    Info,
    Update,
    Prack,
    Subscribe,
    Notify,
    Refer,
    Message,
    Publish,
    Other(String),
}

impl Method {
    /// Parses a method token; returns `None` when it is not a valid token.
    pub fn parse(s: &str) -> Option<Method> {
        // Dispatch on length and first byte, then one comparison of known length (inlined,
        // where a string match would call memcmp for each name in turn). This runs for
        // every Allow entry and every CSeq.
        let known = match (s.len(), s.as_bytes().first()) {
            (6, Some(b'I')) if s == "INVITE" => Method::Invite,
            (3, Some(b'A')) if s == "ACK" => Method::Ack,
            (3, Some(b'B')) if s == "BYE" => Method::Bye,
            (6, Some(b'C')) if s == "CANCEL" => Method::Cancel,
            (8, Some(b'R')) if s == "REGISTER" => Method::Register,
            (7, Some(b'O')) if s == "OPTIONS" => Method::Options,
            (4, Some(b'I')) if s == "INFO" => Method::Info,
            (6, Some(b'U')) if s == "UPDATE" => Method::Update,
            (5, Some(b'P')) if s == "PRACK" => Method::Prack,
            (9, Some(b'S')) if s == "SUBSCRIBE" => Method::Subscribe,
            (6, Some(b'N')) if s == "NOTIFY" => Method::Notify,
            (5, Some(b'R')) if s == "REFER" => Method::Refer,
            (7, Some(b'M')) if s == "MESSAGE" => Method::Message,
            (7, Some(b'P')) if s == "PUBLISH" => Method::Publish,
            _ if !s.is_empty() && s.bytes().all(crate::scan::is_token_byte) => {
                Method::Other(s.to_owned())
            }
            _ => return None,
        };
        Some(known)
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Register => "REGISTER",
            Method::Options => "OPTIONS",
            Method::Info => "INFO",
            Method::Update => "UPDATE",
            Method::Prack => "PRACK",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Publish => "PUBLISH",
            Method::Other(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
