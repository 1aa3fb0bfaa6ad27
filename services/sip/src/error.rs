//! Errors of the SIP layer. An expected condition (a partial TCP frame) is not an error.

use thiserror::Error;

/// Why a message could not be parsed. The text names what is wrong so that a 400
/// reason phrase and a log line can carry it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    #[error("message is empty")]
    Empty,
    #[error("message is not valid UTF-8 in its start line or headers")]
    NotUtf8,
    #[error("malformed start line: {0}")]
    StartLine(String),
    #[error("unsupported SIP version {0:?}")]
    Version(String),
    #[error("headers are not terminated by an empty line")]
    Unterminated,
    #[error("malformed header line {0:?}")]
    HeaderLine(String),
    #[error("invalid {header} header: {reason}")]
    Header {
        header: &'static str,
        reason: String,
    },
    #[error("invalid {header} header: {reason}")]
    OtherHeader { header: String, reason: String },
    #[error("invalid URI {uri:?}: {reason}")]
    Uri { uri: String, reason: String },
    #[error("unsupported Request-URI scheme in {0:?}")]
    UnsupportedScheme(String),
    #[error("missing mandatory header {0}")]
    Missing(&'static str),
    #[error("Content-Length {declared} exceeds the {available} body bytes received")]
    BodyTruncated { declared: usize, available: usize },
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("CSeq method {cseq} does not match request method {method}")]
    CseqMismatch { cseq: String, method: String },
}

impl ParseError {
    pub(crate) fn header(header: &'static str, reason: impl Into<String>) -> Self {
        ParseError::Header {
            header,
            reason: reason.into(),
        }
    }

    pub(crate) fn header_named(header: &str, reason: impl Into<String>) -> Self {
        ParseError::OtherHeader {
            header: truncate(header, 40),
            reason: reason.into(),
        }
    }

    pub(crate) fn uri(uri: &str, reason: impl Into<String>) -> Self {
        ParseError::Uri {
            uri: truncate(uri, 80),
            reason: reason.into(),
        }
    }
}

/// Keeps error texts short even for hostile inputs (a 1 MB header must not end up in a log line).
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}
