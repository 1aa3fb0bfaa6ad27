//! Requests, responses and their header list.

use std::fmt;

use crate::header::{Auth, CSeq, Contact, Header, MediaType, NameAddr, Via};
use crate::method::Method;
use crate::uri::Uri;

/// The ordered header list of a message, with typed accessors for the core headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<Header>);

macro_rules! first {
    ($self:ident, $variant:ident) => {
        $self.0.iter().find_map(|h| match h {
            Header::$variant(v) => Some(v),
            _ => None,
        })
    };
}

impl Headers {
    pub fn new() -> Self {
        Headers(Vec::new())
    }

    pub fn push(&mut self, h: Header) {
        self.0.push(h);
    }

    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.0.iter()
    }

    /// Removes every header with this (canonical) name.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|h| !h.name().eq_ignore_ascii_case(name));
    }

    /// Replaces all headers of this header's name with it, keeping the first one's position.
    pub fn set(&mut self, h: Header) {
        let name = h.name().to_owned();
        match self
            .0
            .iter()
            .position(|x| x.name().eq_ignore_ascii_case(&name))
        {
            Some(i) => {
                self.0[i] = h;
                let mut idx = 0;
                self.0.retain(|x| {
                    let keep = idx <= i || !x.name().eq_ignore_ascii_case(&name);
                    idx += 1;
                    keep
                });
            }
            None => self.0.push(h),
        }
    }

    pub fn vias(&self) -> impl Iterator<Item = &Via> {
        self.0.iter().filter_map(|h| match h {
            Header::Via(v) => Some(v),
            _ => None,
        })
    }

    pub fn top_via(&self) -> Option<&Via> {
        first!(self, Via)
    }

    pub fn top_via_mut(&mut self) -> Option<&mut Via> {
        self.0.iter_mut().find_map(|h| match h {
            Header::Via(v) => Some(v),
            _ => None,
        })
    }

    /// Inserts a Via above all others.
    pub fn push_top_via(&mut self, via: Via) {
        let at = self
            .0
            .iter()
            .position(|h| matches!(h, Header::Via(_)))
            .unwrap_or(0);
        self.0.insert(at, Header::Via(via));
    }

    /// Removes the topmost Via (a proxy or UAC receiving a response).
    pub fn pop_top_via(&mut self) -> Option<Via> {
        let i = self.0.iter().position(|h| matches!(h, Header::Via(_)))?;
        match self.0.remove(i) {
            Header::Via(v) => Some(v),
            _ => None,
        }
    }

    pub fn from(&self) -> Option<&NameAddr> {
        first!(self, From)
    }

    pub fn to(&self) -> Option<&NameAddr> {
        first!(self, To)
    }

    pub fn to_mut(&mut self) -> Option<&mut NameAddr> {
        self.0.iter_mut().find_map(|h| match h {
            Header::To(v) => Some(v),
            _ => None,
        })
    }

    pub fn call_id(&self) -> Option<&str> {
        first!(self, CallId).map(crate::Text::as_str)
    }

    pub fn cseq(&self) -> Option<&CSeq> {
        first!(self, CSeq)
    }

    pub fn contacts(&self) -> impl Iterator<Item = &Contact> {
        self.0.iter().filter_map(|h| match h {
            Header::Contact(c) => Some(c),
            _ => None,
        })
    }

    pub fn max_forwards(&self) -> Option<u32> {
        first!(self, MaxForwards).copied()
    }

    pub fn routes(&self) -> impl Iterator<Item = &NameAddr> {
        self.0.iter().filter_map(|h| match h {
            Header::Route(r) => Some(r),
            _ => None,
        })
    }

    pub fn record_routes(&self) -> impl Iterator<Item = &NameAddr> {
        self.0.iter().filter_map(|h| match h {
            Header::RecordRoute(r) => Some(r),
            _ => None,
        })
    }

    pub fn content_type(&self) -> Option<&MediaType> {
        first!(self, ContentType)
    }

    pub fn content_length(&self) -> Option<usize> {
        first!(self, ContentLength).copied()
    }

    pub fn expires(&self) -> Option<u32> {
        first!(self, Expires).copied()
    }

    pub fn authorization(&self) -> Option<&Auth> {
        first!(self, Authorization)
    }

    pub fn proxy_authorization(&self) -> Option<&Auth> {
        first!(self, ProxyAuthorization)
    }

    pub fn www_authenticate(&self) -> Option<&Auth> {
        first!(self, WwwAuthenticate)
    }

    pub fn proxy_authenticate(&self) -> Option<&Auth> {
        first!(self, ProxyAuthenticate)
    }

    pub fn require(&self) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter_map(|h| match h {
                Header::Require(v) => Some(v.iter().map(crate::Text::as_str)),
                _ => None,
            })
            .flatten()
    }

    /// The value of an unknown header by name (case-insensitive).
    pub fn other(&self, name: &str) -> Option<&str> {
        self.0.iter().find_map(|h| match h {
            Header::Other { name: n, value } if n.eq_ignore_ascii_case(name) => {
                Some(value.as_str())
            }
            _ => None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub uri: Uri,
    pub headers: Headers,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Headers,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Request(Request),
    Response(Response),
}

impl Message {
    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Message::Request(r) => r.to_bytes(),
            Message::Response(r) => r.to_bytes(),
        }
    }
}

impl Request {
    pub fn new(method: Method, uri: Uri) -> Self {
        Request {
            method,
            uri,
            headers: Headers::new(),
            body: Vec::new(),
        }
    }

    /// Serializes the request. Content-Length is always written and always equals the body
    /// length, whatever the header list says.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(512 + self.body.len());
        out.push_str(self.method.as_str());
        out.push(' ');
        self.uri.print(&mut out);
        out.push_str(" SIP/2.0\r\n");
        finish(out, &self.headers, &self.body)
    }
}

/// The standard reason phrase of a status code (RFC 3261 21 and common extensions).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        302 => "Moved Temporarily",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        421 => "Extension Required",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        _ => "Unknown",
    }
}

impl Response {
    pub fn new(status: u16) -> Self {
        Response {
            status,
            reason: reason_phrase(status).to_owned(),
            headers: Headers::new(),
            body: Vec::new(),
        }
    }

    /// A response to `req` (RFC 3261 8.2.6.2): copies Via, From, To, Call-ID and CSeq.
    /// The To tag is added by the caller when needed (`to_tag`).
    pub fn to_request(req: &Request, status: u16, to_tag: Option<&str>) -> Self {
        let mut r = Response::new(status);
        for h in req.headers.iter() {
            match h {
                Header::Via(_) | Header::From(_) | Header::CallId(_) | Header::CSeq(_) => {
                    r.headers.push(h.clone())
                }
                Header::To(to) => {
                    let mut to = to.clone();
                    if let Some(tag) = to_tag
                        && to.tag().is_none()
                    {
                        to.params.set("tag", Some(tag));
                    }
                    r.headers.push(Header::To(to));
                }
                Header::RecordRoute(_) if (101..300).contains(&status) => r.headers.push(h.clone()),
                _ => {}
            }
        }
        r
    }

    pub fn is_provisional(&self) -> bool {
        self.status < 200
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(512 + self.body.len());
        out.push_str("SIP/2.0 ");
        out.push_str(&self.status.to_string());
        out.push(' ');
        out.push_str(&self.reason);
        out.push_str("\r\n");
        finish(out, &self.headers, &self.body)
    }
}

fn finish(mut out: String, headers: &Headers, body: &[u8]) -> Vec<u8> {
    for h in headers.iter() {
        if matches!(h, Header::ContentLength(_)) {
            continue;
        }
        h.print(&mut out);
        out.push_str("\r\n");
    }
    out.push_str("Content-Length: ");
    out.push_str(&body.len().to_string());
    out.push_str("\r\n\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}
