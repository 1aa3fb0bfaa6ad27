//! Digest authentication for SIP (RFC 3261 22, RFC 7616, RFC 8760): the server side that
//! challenges and verifies, and the client side that answers a challenge.
//!
//! Nonces are self-validating: `hex(issued_at || salt || HMAC-SHA256(secret, ...))`, so any
//! node holding the shared secret can verify a nonce issued by another one, and no state is
//! kept per challenge. The only state is the bounded nonce-count table used to reject
//! replays of credentials that already succeeded on this node.
//!
//! Sans-IO: time comes in as `now_unix_secs`, and the client's cnonce comes from the caller.

use std::collections::BTreeMap;
use std::fmt;

use hmac::{Hmac, Mac};
use md5::Md5;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::header::Auth;
use crate::method::Method;

type HmacSha256 = Hmac<Sha256>;

/// Clock skew tolerated between nodes sharing the secret: a nonce issued up to this far in
/// the "future" is still accepted.
const MAX_CLOCK_SKEW_SECS: u64 = 30;
/// Bytes of HMAC kept in a nonce; 128 bits are plenty against forgery.
const NONCE_MAC_LEN: usize = 16;
/// issued_at (8) + salt (8) + truncated MAC.
const NONCE_LEN: usize = 16 + NONCE_MAC_LEN;
/// Domain separation, so a MAC made with the same secret elsewhere is never a valid nonce.
const NONCE_TAG: &[u8] = b"cc-sip digest nonce v1";

/// A digest hash algorithm (RFC 7616 3.2, RFC 8760).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Md5,
    Md5Sess,
    Sha256,
    Sha256Sess,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    /// Parses the `algorithm` token (case-insensitive). SHA-512-256 is not supported.
    pub fn parse(s: &str) -> Option<Algorithm> {
        [
            Algorithm::Md5,
            Algorithm::Md5Sess,
            Algorithm::Sha256,
            Algorithm::Sha256Sess,
        ]
        .into_iter()
        .find(|a| a.as_str().eq_ignore_ascii_case(s))
    }

    /// Whether HA1 is re-hashed with the nonce and cnonce (the `-sess` variants).
    pub fn is_sess(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }

    /// The algorithm a stored HA1 must be computed with: `-sess` variants start from the
    /// plain HA1 of their hash, so one stored HA1 per hash function is enough.
    pub fn base(self) -> Algorithm {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => Algorithm::Md5,
            Algorithm::Sha256 | Algorithm::Sha256Sess => Algorithm::Sha256,
        }
    }

    fn digest_len(self) -> usize {
        match self.base() {
            Algorithm::Sha256 => 32,
            _ => 16,
        }
    }

    /// Lower-case hex of H(parts joined by ':').
    fn hash(self, parts: &[&str]) -> String {
        fn run<D: Digest>(parts: &[&str]) -> String {
            let mut d = D::new();
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    d.update(b":");
                }
                d.update(p.as_bytes());
            }
            hex::encode(d.finalize())
        }
        match self.base() {
            Algorithm::Sha256 => run::<Sha256>(parts),
            _ => run::<Md5>(parts),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Quality of protection. Only `auth` is supported; `auth-int` (body hashing) is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qop {
    Auth,
}

/// `H(username:realm:password)` in lower-case hex: what a user store keeps instead of the
/// password. Use `algorithm.base()`; the `-sess` variants reuse it.
pub fn ha1(algorithm: Algorithm, username: &str, realm: &str, password: &str) -> String {
    algorithm.base().hash(&[username, realm, password])
}

/// What the server knows about a user, as returned by the lookup passed to `verify`.
#[derive(Clone, PartialEq, Eq)]
pub enum UserSecret {
    Password(String),
    /// `ha1(algorithm.base(), user, realm, password)` in hex, for the algorithm the lookup
    /// was asked about.
    Ha1(String),
}

impl fmt::Debug for UserSecret {
    /// Never prints the secret, so it cannot leak into logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserSecret::Password(_) => f.write_str("Password(..)"),
            UserSecret::Ha1(_) => f.write_str("Ha1(..)"),
        }
    }
}

/// A credentials field, named in `DigestError::Malformed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Scheme,
    Username,
    Realm,
    Nonce,
    Uri,
    Response,
    Algorithm,
    Qop,
    Nc,
    Cnonce,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Scheme => "scheme",
            Field::Username => "username",
            Field::Realm => "realm",
            Field::Nonce => "nonce",
            Field::Uri => "uri",
            Field::Response => "response",
            Field::Algorithm => "algorithm",
            Field::Qop => "qop",
            Field::Nc => "nc",
            Field::Cnonce => "cnonce",
        })
    }
}

/// Why credentials were not accepted (server) or a challenge cannot be answered (client).
///
/// Server callers: `Stale` -> challenge again with `stale = true`; `Malformed` -> 400;
/// anything else -> a fresh challenge (or 403 after repeated failures, by local policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DigestError {
    #[error("nonce expired; credentials were otherwise correct")]
    Stale,
    #[error("malformed digest: missing, duplicated or invalid {0}")]
    Malformed(Field),
    #[error("realm does not match")]
    WrongRealm,
    #[error("unknown user")]
    UnknownUser,
    #[error("digest response does not match")]
    BadResponse,
    #[error("nonce count already used with this nonce")]
    Replay,
    #[error("unsupported or not offered digest algorithm")]
    UnsupportedAlgorithm,
    #[error("unsupported qop")]
    UnsupportedQop,
    #[error("nonce was not issued for this realm with our secret")]
    InvalidNonce,
}

/// Configuration for a `DigestServer`.
#[derive(Clone)]
pub struct DigestConfig {
    pub realm: String,
    /// Shared by every node that must accept this node's nonces; at least 16 bytes.
    pub secret: Vec<u8>,
    pub nonce_lifetime_secs: u64,
    /// Offered algorithms, in the order challenges list them (RFC 8760: strongest first;
    /// operators may put MD5 first for clients that only read the first challenge).
    pub algorithms: Vec<Algorithm>,
    /// Accept RFC 2069 credentials without qop. Off by default: they carry no nonce count,
    /// so replays within the nonce lifetime cannot be detected.
    pub allow_no_qop: bool,
    /// Bound on the nonce-count table; the oldest nonces are forgotten first (and then
    /// answered with `Stale`, never silently accepted).
    pub max_tracked_nonces: usize,
    /// Start of the per-node nonce salt sequence. Seed it randomly at startup so that nodes
    /// sharing the secret do not issue equal nonces in the same second.
    pub salt_seed: u64,
}

impl fmt::Debug for DigestConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestConfig")
            .field("realm", &self.realm)
            .field("secret", &"..")
            .field("nonce_lifetime_secs", &self.nonce_lifetime_secs)
            .field("algorithms", &self.algorithms)
            .field("allow_no_qop", &self.allow_no_qop)
            .field("max_tracked_nonces", &self.max_tracked_nonces)
            .finish_non_exhaustive()
    }
}

impl DigestConfig {
    /// Defaults: SHA-256 and MD5 (most SIP phones only know MD5), 5 minute nonces,
    /// qop required, 10 000 tracked nonces.
    pub fn new(realm: impl Into<String>, secret: impl Into<Vec<u8>>, salt_seed: u64) -> Self {
        DigestConfig {
            realm: realm.into(),
            secret: secret.into(),
            nonce_lifetime_secs: 300,
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
            allow_no_qop: false,
            max_tracked_nonces: 10_000,
            salt_seed,
        }
    }
}

/// Why a `DigestConfig` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DigestConfigError {
    #[error("digest secret must be at least 16 bytes")]
    ShortSecret,
    #[error("no digest algorithm configured")]
    NoAlgorithm,
    #[error("nonce lifetime must be positive")]
    ZeroLifetime,
    #[error("max_tracked_nonces must be positive")]
    ZeroTracking,
}

/// Credentials that passed verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub username: String,
    pub algorithm: Algorithm,
    /// `None` for accepted RFC 2069 credentials.
    pub qop: Option<Qop>,
    /// The `uri` parameter as sent; callers that care compare it with the Request-URI.
    pub uri: String,
    pub nonce_issued_at: u64,
}

/// The server side: issues challenges and verifies credentials against them.
///
/// Calling contract: `challenge` for a 401/407, `verify` for each request carrying
/// credentials. Retransmissions must be absorbed by the transaction layer before `verify`,
/// since a repeated nonce count is a `Replay`. Replay tracking is per node: a nonce used
/// here can still be replayed once against another node until it expires, so keep the
/// lifetime short.
pub struct DigestServer {
    config: DigestConfig,
    mac: HmacSha256,
    next_salt: u64,
    /// (issued_at, salt) of nonces that succeeded -> highest nonce count seen. Ordered by
    /// issue time so expiry and eviction take the front.
    seen: BTreeMap<(u64, u64), u32>,
    /// Nonces issued at or before this time may have been evicted from `seen`; they are
    /// treated as stale rather than as new.
    forgotten_up_to: Option<u64>,
}

impl fmt::Debug for DigestServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestServer")
            .field("config", &self.config)
            .field("tracked_nonces", &self.seen.len())
            .finish_non_exhaustive()
    }
}

/// The fields of a digest credentials header, checked for presence and syntax.
struct Fields<'a> {
    username: &'a str,
    realm: &'a str,
    nonce: &'a str,
    uri: &'a str,
    response: Vec<u8>,
    algorithm: Algorithm,
    /// Present when qop=auth.
    qop: Option<QopParts<'a>>,
    nc: u32,
}

impl DigestServer {
    pub fn new(mut config: DigestConfig) -> Result<Self, DigestConfigError> {
        if config.secret.len() < 16 {
            return Err(DigestConfigError::ShortSecret);
        }
        if config.algorithms.is_empty() {
            return Err(DigestConfigError::NoAlgorithm);
        }
        if config.nonce_lifetime_secs == 0 {
            return Err(DigestConfigError::ZeroLifetime);
        }
        if config.max_tracked_nonces == 0 {
            return Err(DigestConfigError::ZeroTracking);
        }
        let mac = HmacSha256::new_from_slice(&config.secret)
            .map_err(|_| DigestConfigError::ShortSecret)?;
        // Keep the operator's order: many clients (SIPp 3.6, older desk phones) answer the
        // first challenge whether or not they support its algorithm.
        let mut unique = Vec::with_capacity(config.algorithms.len());
        for a in config.algorithms.drain(..) {
            if !unique.contains(&a) {
                unique.push(a);
            }
        }
        config.algorithms = unique;
        let next_salt = config.salt_seed;
        Ok(DigestServer {
            config,
            mac,
            next_salt,
            seen: BTreeMap::new(),
            forgotten_up_to: None,
        })
    }

    pub fn realm(&self) -> &str {
        &self.config.realm
    }

    /// One challenge per offered algorithm, in the configured order, all with the same fresh nonce.
    /// Put each into its own WWW-Authenticate (or Proxy-Authenticate) header.
    pub fn challenge(&mut self, now_unix_secs: u64, stale: bool) -> Vec<Auth> {
        let salt = self.next_salt;
        self.next_salt = self.next_salt.wrapping_add(1);
        let nonce = self.make_nonce(now_unix_secs, salt);
        self.config
            .algorithms
            .iter()
            .map(|alg| {
                let mut a = Auth::digest()
                    .with("realm", &self.config.realm, true)
                    .with("qop", "auth", true)
                    .with("algorithm", alg.as_str(), false)
                    .with("nonce", &nonce, true);
                if stale {
                    a = a.with("stale", "true", false);
                }
                a
            })
            .collect()
    }

    /// Verifies credentials for a request with `method`. `lookup(username, algorithm)`
    /// returns the user's secret, `None` when the user does not exist.
    pub fn verify(
        &mut self,
        credentials: &Auth,
        method: &Method,
        now_unix_secs: u64,
        lookup: impl FnOnce(&str, Algorithm) -> Option<UserSecret>,
    ) -> Result<Verified, DigestError> {
        let f = self.fields(credentials)?;
        let (issued_at, salt) = self.open_nonce(f.nonce)?;
        let secret = lookup(f.username, f.algorithm).ok_or(DigestError::UnknownUser)?;
        let ha1 = match secret {
            UserSecret::Password(p) => ha1(f.algorithm, f.username, f.realm, &p),
            UserSecret::Ha1(h) => h.to_ascii_lowercase(),
        };
        let expected = response(f.algorithm, &ha1, f.nonce, f.qop, method.as_str(), f.uri);
        let expected = hex::decode(expected).map_err(|_| DigestError::BadResponse)?;
        if !constant_time_eq(&expected, &f.response) {
            return Err(DigestError::BadResponse);
        }
        // Only after the response matched: RFC 7616 says stale means "right password, old nonce".
        let fresh = issued_at <= now_unix_secs.saturating_add(MAX_CLOCK_SKEW_SECS)
            && now_unix_secs < issued_at.saturating_add(self.config.nonce_lifetime_secs);
        if !fresh {
            return Err(DigestError::Stale);
        }
        if f.qop.is_some() {
            self.record_nc(issued_at, salt, f.nc, now_unix_secs)?;
        }
        Ok(Verified {
            username: f.username.to_owned(),
            algorithm: f.algorithm,
            qop: f.qop.map(|_| Qop::Auth),
            uri: f.uri.to_owned(),
            nonce_issued_at: issued_at,
        })
    }

    fn fields<'a>(&self, c: &'a Auth) -> Result<Fields<'a>, DigestError> {
        if !c.is_digest() {
            return Err(DigestError::Malformed(Field::Scheme));
        }
        let realm =
            single(c, "realm", Field::Realm)?.ok_or(DigestError::Malformed(Field::Realm))?;
        let username = required(c, "username", Field::Username)?;
        let nonce = required(c, "nonce", Field::Nonce)?;
        let uri = required(c, "uri", Field::Uri)?;
        let response = required(c, "response", Field::Response)?;
        if realm != self.config.realm {
            return Err(DigestError::WrongRealm);
        }
        let algorithm = match single(c, "algorithm", Field::Algorithm)? {
            None => Algorithm::Md5,
            Some(a) => Algorithm::parse(a).ok_or(DigestError::UnsupportedAlgorithm)?,
        };
        if !self.config.algorithms.contains(&algorithm) {
            return Err(DigestError::UnsupportedAlgorithm);
        }
        let mut nc_value = 0;
        let qop = match single(c, "qop", Field::Qop)? {
            Some(qop) if qop.eq_ignore_ascii_case("auth") => {
                let nc = required(c, "nc", Field::Nc)?;
                nc_value = parse_nc(nc).ok_or(DigestError::Malformed(Field::Nc))?;
                let cnonce = required(c, "cnonce", Field::Cnonce)?;
                Some(QopParts { qop, nc, cnonce })
            }
            Some(_) => return Err(DigestError::UnsupportedQop),
            None if self.config.allow_no_qop && !algorithm.is_sess() => None,
            None => return Err(DigestError::UnsupportedQop),
        };
        let response = hex::decode(response)
            .ok()
            .filter(|r| r.len() == algorithm.digest_len())
            .ok_or(DigestError::Malformed(Field::Response))?;
        Ok(Fields {
            username,
            realm,
            nonce,
            uri,
            response,
            algorithm,
            qop,
            nc: nc_value,
        })
    }

    fn make_nonce(&self, issued_at: u64, salt: u64) -> String {
        let mut raw = Vec::with_capacity(NONCE_LEN);
        raw.extend_from_slice(&issued_at.to_be_bytes());
        raw.extend_from_slice(&salt.to_be_bytes());
        let tag = self.nonce_mac(issued_at, salt).finalize().into_bytes();
        raw.extend_from_slice(&tag[..NONCE_MAC_LEN]);
        hex::encode(raw)
    }

    fn nonce_mac(&self, issued_at: u64, salt: u64) -> HmacSha256 {
        let mut mac = self.mac.clone();
        mac.update(NONCE_TAG);
        mac.update(&issued_at.to_be_bytes());
        mac.update(&salt.to_be_bytes());
        mac.update(self.config.realm.as_bytes());
        mac
    }

    /// Checks the MAC of a nonce and returns its (issued_at, salt).
    fn open_nonce(&self, nonce: &str) -> Result<(u64, u64), DigestError> {
        let raw = hex::decode(nonce).map_err(|_| DigestError::InvalidNonce)?;
        if raw.len() != NONCE_LEN {
            return Err(DigestError::InvalidNonce);
        }
        let (ts, rest) = raw.split_at(8);
        let (salt, tag) = rest.split_at(8);
        let issued_at = u64::from_be_bytes(ts.try_into().map_err(|_| DigestError::InvalidNonce)?);
        let salt = u64::from_be_bytes(salt.try_into().map_err(|_| DigestError::InvalidNonce)?);
        self.nonce_mac(issued_at, salt)
            .verify_truncated_left(tag)
            .map_err(|_| DigestError::InvalidNonce)?;
        Ok((issued_at, salt))
    }

    /// Accepts `nc` only if it is above every count already seen with this nonce.
    fn record_nc(
        &mut self,
        issued_at: u64,
        salt: u64,
        nc: u32,
        now: u64,
    ) -> Result<(), DigestError> {
        let key = (issued_at, salt);
        if let Some(highest) = self.seen.get_mut(&key) {
            if nc <= *highest {
                return Err(DigestError::Replay);
            }
            *highest = nc;
            return Ok(());
        }
        if self.forgotten_up_to.is_some_and(|t| issued_at <= t) {
            // Possibly evicted: its history is unknown, so make the client fetch a new nonce.
            return Err(DigestError::Stale);
        }
        // Drop expired entries first: they would be refused as stale anyway. Either way a
        // dropped nonce is forgotten, not new: should the clock step back and make an
        // expired nonce look fresh again, its counts must not be accepted a second time.
        let lifetime = self.config.nonce_lifetime_secs;
        while let Some((&(t, s), _)) = self.seen.first_key_value() {
            let expired = t.saturating_add(lifetime) <= now;
            if !expired && self.seen.len() < self.config.max_tracked_nonces {
                break;
            }
            self.seen.remove(&(t, s));
            self.forgotten_up_to = Some(self.forgotten_up_to.map_or(t, |f| f.max(t)));
        }
        if self.forgotten_up_to.is_some_and(|t| issued_at <= t) {
            return Err(DigestError::Stale);
        }
        self.seen.insert(key, nc);
        Ok(())
    }
}

/// A parameter that may appear at most once.
fn single<'a>(c: &'a Auth, name: &str, field: Field) -> Result<Option<&'a str>, DigestError> {
    let mut found = c
        .params
        .iter()
        .filter(|p| p.name.eq_ignore_ascii_case(name));
    match (found.next(), found.next()) {
        (Some(_), Some(_)) => Err(DigestError::Malformed(field)),
        (first, _) => Ok(first.map(|p| p.value.as_str())),
    }
}

/// A parameter that must appear exactly once, non-empty.
fn required<'a>(c: &'a Auth, name: &str, field: Field) -> Result<&'a str, DigestError> {
    single(c, name, field)?
        .filter(|v| !v.is_empty())
        .ok_or(DigestError::Malformed(field))
}

/// `nc` is 8 hex digits (RFC 7616 3.4); 0 is never a valid count.
fn parse_nc(s: &str) -> Option<u32> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok().filter(|&n| n > 0)
}

/// The qop=auth inputs of the request-digest, as sent (the hash covers the exact text).
#[derive(Clone, Copy)]
struct QopParts<'a> {
    qop: &'a str,
    nc: &'a str,
    cnonce: &'a str,
}

/// The request-digest (RFC 7616 3.4.1). `qop` is `None` in RFC 2069 mode. `ha1` is the plain H(user:realm:password) hex; `-sess` is applied here.
fn response(
    alg: Algorithm,
    ha1: &str,
    nonce: &str,
    qop: Option<QopParts<'_>>,
    method: &str,
    uri: &str,
) -> String {
    let ha1 = match (alg.is_sess(), qop) {
        (true, Some(q)) => alg.hash(&[ha1, nonce, q.cnonce]),
        _ => ha1.to_owned(),
    };
    let ha2 = alg.hash(&[method, uri]);
    match qop {
        Some(q) => alg.hash(&[&ha1, nonce, q.nc, q.cnonce, q.qop, &ha2]),
        None => alg.hash(&[&ha1, nonce, &ha2]),
    }
}

/// Compares without an early exit, so timing does not reveal how many bytes matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// What the client authenticates as.
#[derive(Clone, Copy)]
pub struct ClientCredentials<'a> {
    pub username: &'a str,
    pub password: &'a str,
}

impl fmt::Debug for ClientCredentials<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Picks the challenge to answer among several WWW-/Proxy-Authenticate values: the first
/// Digest one with an algorithm we support (RFC 7616 3.7: the server lists its preference).
pub fn pick_challenge<'a>(challenges: impl IntoIterator<Item = &'a Auth>) -> Option<&'a Auth> {
    challenges.into_iter().find(|c| {
        c.is_digest()
            && c.param("algorithm")
                .is_none_or(|a| Algorithm::parse(a).is_some())
    })
}

/// Answers a Digest challenge: the Authorization (or Proxy-Authorization) value for a request
/// with `method` and Request-URI `uri`. `cnonce` (random, from the caller) and `nc` (1 for a
/// fresh nonce, +1 per reuse) are ignored when the challenge has no qop (RFC 2069 mode).
pub fn authorize(
    challenge: &Auth,
    method: &Method,
    uri: &str,
    credentials: ClientCredentials<'_>,
    cnonce: &str,
    nc: u32,
) -> Result<Auth, DigestError> {
    if !challenge.is_digest() {
        return Err(DigestError::Malformed(Field::Scheme));
    }
    let realm =
        single(challenge, "realm", Field::Realm)?.ok_or(DigestError::Malformed(Field::Realm))?;
    let nonce = required(challenge, "nonce", Field::Nonce)?;
    let opaque = challenge.param("opaque");
    let algorithm = match single(challenge, "algorithm", Field::Algorithm)? {
        None => Algorithm::Md5,
        Some(a) => Algorithm::parse(a).ok_or(DigestError::UnsupportedAlgorithm)?,
    };
    let use_qop = match single(challenge, "qop", Field::Qop)? {
        None => false,
        Some(opts)
            if opts
                .split(',')
                .any(|o| o.trim().eq_ignore_ascii_case("auth")) =>
        {
            true
        }
        Some(_) => return Err(DigestError::UnsupportedQop),
    };
    if algorithm.is_sess() && !use_qop {
        return Err(DigestError::UnsupportedQop);
    }
    if use_qop && (cnonce.is_empty() || nc == 0) {
        return Err(DigestError::Malformed(if nc == 0 {
            Field::Nc
        } else {
            Field::Cnonce
        }));
    }
    let nc_hex = format!("{nc:08x}");
    let ha1 = ha1(algorithm, credentials.username, realm, credentials.password);
    let qop = use_qop.then_some(QopParts {
        qop: "auth",
        nc: &nc_hex,
        cnonce,
    });
    let digest = response(algorithm, &ha1, nonce, qop, method.as_str(), uri);

    // Parameter order and quoting as in RFC 7616 3.9.1.
    let mut a = Auth::digest()
        .with("username", credentials.username, true)
        .with("realm", realm, true)
        .with("uri", uri, true)
        .with("algorithm", algorithm.as_str(), false)
        .with("nonce", nonce, true);
    if use_qop {
        a = a
            .with("nc", &nc_hex, false)
            .with("cnonce", cnonce, true)
            .with("qop", "auth", false);
    }
    a = a.with("response", &digest, true);
    if let Some(o) = opaque {
        a = a.with("opaque", o, true);
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REALM: &str = "cc.local";
    const SECRET: &[u8] = b"0123456789abcdef-shared-secret";
    const NOW: u64 = 1_700_000_000;

    fn server() -> DigestServer {
        DigestServer::new(DigestConfig::new(REALM, SECRET, 42)).unwrap()
    }

    fn users(user: &str, _alg: Algorithm) -> Option<UserSecret> {
        (user == "201").then(|| UserSecret::Password("s3cret".into()))
    }

    fn creds(password: &str) -> ClientCredentials<'_> {
        ClientCredentials {
            username: "201",
            password,
        }
    }

    fn sha256_challenge(s: &mut DigestServer, now: u64) -> Auth {
        s.challenge(now, false).into_iter().next().unwrap()
    }

    fn answer(s: &mut DigestServer, now: u64, password: &str, nc: u32) -> Auth {
        let ch = sha256_challenge(s, now);
        authorize(
            &ch,
            &Method::Register,
            "sip:cc.local",
            creds(password),
            "0a4f113b",
            nc,
        )
        .unwrap()
    }

    fn rfc7616_challenge(alg: &str) -> Auth {
        Auth::digest()
            .with("realm", "http-auth@example.org", true)
            .with("qop", "auth, auth-int", true)
            .with("algorithm", alg, false)
            .with(
                "nonce",
                "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
                true,
            )
            .with(
                "opaque",
                "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS",
                true,
            )
    }

    fn rfc7616_authorize(alg: &str) -> Auth {
        let get = Method::parse("GET").unwrap();
        let mufasa = ClientCredentials {
            username: "Mufasa",
            password: "Circle of Life",
        };
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        authorize(
            &rfc7616_challenge(alg),
            &get,
            "/dir/index.html",
            mufasa,
            cnonce,
            1,
        )
        .unwrap()
    }

    #[test]
    fn rfc7616_md5_example() {
        let a = rfc7616_authorize("MD5");
        assert_eq!(
            a.to_string(),
            "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", uri=\"/dir/index.html\", \
             algorithm=MD5, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", nc=00000001, \
             cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", qop=auth, \
             response=\"8ca523f5e9506fed4657c9700eebdbec\", \
             opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
        );
    }

    #[test]
    fn rfc7616_sha256_example() {
        let a = rfc7616_authorize("SHA-256");
        assert_eq!(
            a.param("response"),
            Some("753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1")
        );
        assert_eq!(a.param("algorithm"), Some("SHA-256"));
    }

    #[test]
    fn server_side_digest_matches_rfc7616_examples() {
        // The server's computation, fed with a stored HA1 instead of the password.
        for (alg, want) in [
            (Algorithm::Md5, "8ca523f5e9506fed4657c9700eebdbec"),
            (
                Algorithm::Sha256,
                "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
            ),
        ] {
            let ha1 = ha1(alg, "Mufasa", "http-auth@example.org", "Circle of Life");
            let got = response(
                alg,
                &ha1,
                "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
                Some(QopParts {
                    qop: "auth",
                    nc: "00000001",
                    cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
                }),
                "GET",
                "/dir/index.html",
            );
            assert_eq!(got, want);
        }
    }

    #[test]
    fn challenge_offers_algorithms_in_configured_order_with_one_nonce() {
        let mut cfg = DigestConfig::new(REALM, SECRET, 1);
        cfg.algorithms = vec![Algorithm::Sha256, Algorithm::Md5, Algorithm::Sha256];
        let mut s = DigestServer::new(cfg).unwrap();
        let ch = s.challenge(NOW, false);
        assert_eq!(ch.len(), 2);
        assert_eq!(ch[0].param("algorithm"), Some("SHA-256"));
        assert_eq!(ch[1].param("algorithm"), Some("MD5"));
        assert_eq!(ch[0].param("nonce"), ch[1].param("nonce"));
        assert!(
            ch[0].to_string().starts_with(
                "Digest realm=\"cc.local\", qop=\"auth\", algorithm=SHA-256, nonce=\""
            )
        );
        assert_eq!(ch[0].param("stale"), None);
        assert_eq!(s.challenge(NOW, true)[0].param("stale"), Some("true"));
        // Two challenges in the same second still get distinct nonces.
        assert_ne!(
            s.challenge(NOW, false)[0].param("nonce"),
            ch[0].param("nonce")
        );
        let mut cfg = DigestConfig::new(REALM, SECRET, 1);
        cfg.algorithms = vec![Algorithm::Md5, Algorithm::Sha256];
        let md5_first = DigestServer::new(cfg).unwrap().challenge(NOW, false);
        assert_eq!(md5_first[0].param("algorithm"), Some("MD5"));
    }

    #[test]
    fn round_trip_each_algorithm_and_stored_ha1() {
        for alg in [
            Algorithm::Md5,
            Algorithm::Md5Sess,
            Algorithm::Sha256,
            Algorithm::Sha256Sess,
        ] {
            let mut cfg = DigestConfig::new(REALM, SECRET, 7);
            cfg.algorithms = vec![alg];
            let mut s = DigestServer::new(cfg).unwrap();
            let ch = s.challenge(NOW, false);
            assert_eq!(pick_challenge(&ch), Some(&ch[0]));
            let a = authorize(
                &ch[0],
                &Method::Invite,
                "sip:100@cc.local",
                creds("s3cret"),
                "c1",
                1,
            )
            .unwrap();
            // Through the wire format and back.
            let a = Auth::parse(&a.to_string(), "Authorization").unwrap();
            let stored = ha1(alg.base(), "201", REALM, "s3cret").to_ascii_uppercase();
            let v = s
                .verify(&a, &Method::Invite, NOW + 1, |u, asked| {
                    assert_eq!(asked, alg);
                    (u == "201").then(|| UserSecret::Ha1(stored.clone()))
                })
                .unwrap();
            assert_eq!(v.username, "201");
            assert_eq!(v.algorithm, alg);
            assert_eq!(v.qop, Some(Qop::Auth));
            assert_eq!(v.uri, "sip:100@cc.local");
            assert_eq!(v.nonce_issued_at, NOW);
        }
    }

    #[test]
    fn another_node_with_the_same_secret_accepts_the_nonce() {
        let a = answer(&mut server(), NOW, "s3cret", 1);
        let mut other = DigestServer::new(DigestConfig::new(REALM, SECRET, 9_999)).unwrap();
        assert!(other.verify(&a, &Method::Register, NOW + 2, users).is_ok());
        let mut foreign =
            DigestServer::new(DigestConfig::new(REALM, b"another-secret-16b".to_vec(), 0)).unwrap();
        assert_eq!(
            foreign.verify(&a, &Method::Register, NOW, users),
            Err(DigestError::InvalidNonce)
        );
    }

    #[test]
    fn wrong_password_or_method_is_bad_response() {
        let mut s = server();
        let a = answer(&mut s, NOW, "wrong", 1);
        assert_eq!(
            s.verify(&a, &Method::Register, NOW, users),
            Err(DigestError::BadResponse)
        );
        let a = answer(&mut s, NOW, "s3cret", 1);
        assert_eq!(
            s.verify(&a, &Method::Invite, NOW, users),
            Err(DigestError::BadResponse)
        );
    }

    #[test]
    fn expired_nonce_is_stale_only_with_the_right_password() {
        let mut s = server();
        let a = answer(&mut s, NOW, "s3cret", 1);
        assert_eq!(
            s.verify(&a, &Method::Register, NOW + 300, users),
            Err(DigestError::Stale)
        );
        // Issued far in the future (clock skew beyond tolerance): also stale.
        assert_eq!(
            s.verify(&a, &Method::Register, NOW - 31, users),
            Err(DigestError::Stale)
        );
        assert!(s.verify(&a, &Method::Register, NOW - 30, users).is_ok());
        let bad = answer(&mut s, NOW, "wrong", 1);
        assert_eq!(
            s.verify(&bad, &Method::Register, NOW + 300, users),
            Err(DigestError::BadResponse)
        );
    }

    #[test]
    fn nonce_count_must_increase() {
        let mut s = server();
        let ch = sha256_challenge(&mut s, NOW);
        let with_nc = |nc| {
            authorize(
                &ch,
                &Method::Register,
                "sip:cc.local",
                creds("s3cret"),
                "c",
                nc,
            )
            .unwrap()
        };
        assert!(s.verify(&with_nc(1), &Method::Register, NOW, users).is_ok());
        assert_eq!(
            s.verify(&with_nc(1), &Method::Register, NOW, users),
            Err(DigestError::Replay)
        );
        assert!(s.verify(&with_nc(3), &Method::Register, NOW, users).is_ok());
        assert_eq!(
            s.verify(&with_nc(2), &Method::Register, NOW, users),
            Err(DigestError::Replay)
        );
        assert!(s.verify(&with_nc(4), &Method::Register, NOW, users).is_ok());
    }

    #[test]
    fn tracking_is_bounded_and_evicted_nonces_are_stale_not_replayable() {
        let mut cfg = DigestConfig::new(REALM, SECRET, 0);
        cfg.max_tracked_nonces = 2;
        let mut s = DigestServer::new(cfg).unwrap();
        let first = answer(&mut s, NOW, "s3cret", 1);
        assert!(s.verify(&first, &Method::Register, NOW, users).is_ok());
        for t in 1..=3 {
            let a = answer(&mut s, NOW + t, "s3cret", 1);
            assert!(s.verify(&a, &Method::Register, NOW + t, users).is_ok());
        }
        assert!(s.seen.len() <= 2);
        assert_eq!(
            s.verify(&first, &Method::Register, NOW + 4, users),
            Err(DigestError::Stale)
        );
        // Expired entries are dropped by time, not only by count.
        let late = answer(&mut s, NOW + 1_000, "s3cret", 1);
        assert!(
            s.verify(&late, &Method::Register, NOW + 1_000, users)
                .is_ok()
        );
        assert_eq!(s.seen.len(), 1);
    }

    #[test]
    fn replay_is_refused_when_the_clock_steps_back_after_expiry() {
        // Found by fuzz target digest_verify: an entry dropped because it expired was not
        // remembered as forgotten, so after a backward clock step its nonce counts were
        // accepted again.
        let mut s = server();
        let first = answer(&mut s, NOW, "s3cret", 1);
        assert!(s.verify(&first, &Method::Register, NOW + 1, users).is_ok());
        // A later success records a new nonce and drops the expired first one.
        let late = answer(&mut s, NOW + 300, "s3cret", 1);
        assert!(s.verify(&late, &Method::Register, NOW + 300, users).is_ok());
        // The clock steps back one second: `first` is within its lifetime again.
        assert_eq!(
            s.verify(&first, &Method::Register, NOW + 299, users),
            Err(DigestError::Stale)
        );
    }

    #[test]
    fn tampered_nonce_is_invalid() {
        let mut s = server();
        let a = answer(&mut s, NOW, "s3cret", 1);
        let nonce = a.param("nonce").unwrap().to_owned();
        // Move the timestamp forward to extend the lifetime: the MAC no longer matches.
        let mut raw = hex::decode(&nonce).unwrap();
        raw[7] ^= 0x01;
        for bad in [
            hex::encode(raw),
            "zz".into(),
            nonce[..10].to_owned(),
            format!("{nonce}00"),
        ] {
            let mut t = a.clone();
            t.params
                .iter_mut()
                .find(|p| p.name == "nonce")
                .unwrap()
                .value = bad.into();
            assert_eq!(
                s.verify(&t, &Method::Register, NOW, users),
                Err(DigestError::InvalidNonce)
            );
        }
    }

    #[test]
    fn wrong_realm_and_unknown_user() {
        let mut s = server();
        let ch = sha256_challenge(&mut s, NOW);
        let mut other_realm = ch.clone();
        other_realm.params[0].value = "evil.example".into();
        let a = authorize(
            &other_realm,
            &Method::Register,
            "sip:cc.local",
            creds("s3cret"),
            "c",
            1,
        )
        .unwrap();
        assert_eq!(
            s.verify(&a, &Method::Register, NOW, users),
            Err(DigestError::WrongRealm)
        );
        let nobody = ClientCredentials {
            username: "999",
            password: "x",
        };
        let a = authorize(&ch, &Method::Register, "sip:cc.local", nobody, "c", 1).unwrap();
        assert_eq!(
            s.verify(&a, &Method::Register, NOW, users),
            Err(DigestError::UnknownUser)
        );
    }

    #[test]
    fn malformed_credentials_name_the_field() {
        let mut s = server();
        let good = answer(&mut s, NOW, "s3cret", 1);
        let without = |name: &str| {
            let mut a = good.clone();
            a.params.retain(|p| p.name != name);
            a
        };
        for (name, field) in [
            ("username", Field::Username),
            ("realm", Field::Realm),
            ("nonce", Field::Nonce),
            ("uri", Field::Uri),
            ("response", Field::Response),
            ("nc", Field::Nc),
            ("cnonce", Field::Cnonce),
        ] {
            assert_eq!(
                s.verify(&without(name), &Method::Register, NOW, users),
                Err(DigestError::Malformed(field)),
                "{name}"
            );
        }
        let dup = good.clone().with("response", "00", true);
        assert_eq!(
            s.verify(&dup, &Method::Register, NOW, users),
            Err(DigestError::Malformed(Field::Response))
        );
        let mut short = good.clone();
        short
            .params
            .iter_mut()
            .find(|p| p.name == "response")
            .unwrap()
            .value = "abcd".into();
        assert_eq!(
            s.verify(&short, &Method::Register, NOW, users),
            Err(DigestError::Malformed(Field::Response))
        );
        let mut nc = good.clone();
        nc.params.iter_mut().find(|p| p.name == "nc").unwrap().value = "1".into();
        assert_eq!(
            s.verify(&nc, &Method::Register, NOW, users),
            Err(DigestError::Malformed(Field::Nc))
        );
        let basic = Auth {
            scheme: "Basic".into(),
            params: vec![],
        };
        assert_eq!(
            s.verify(&basic, &Method::Register, NOW, users),
            Err(DigestError::Malformed(Field::Scheme))
        );
    }

    #[test]
    fn algorithm_and_qop_must_be_offered() {
        let mut cfg = DigestConfig::new(REALM, SECRET, 0);
        cfg.algorithms = vec![Algorithm::Sha256];
        let mut s = DigestServer::new(cfg).unwrap();
        let mut ch = sha256_challenge(&mut s, NOW);
        ch.params.retain(|p| p.name != "algorithm");
        // No algorithm means MD5, which this server does not offer.
        let a = authorize(
            &ch,
            &Method::Register,
            "sip:cc.local",
            creds("s3cret"),
            "c",
            1,
        )
        .unwrap();
        assert_eq!(
            s.verify(&a, &Method::Register, NOW, users),
            Err(DigestError::UnsupportedAlgorithm)
        );
        let mut odd = a.clone();
        odd.params
            .iter_mut()
            .find(|p| p.name == "algorithm")
            .unwrap()
            .value = "SHA-512-256".into();
        assert_eq!(
            s.verify(&odd, &Method::Register, NOW, users),
            Err(DigestError::UnsupportedAlgorithm)
        );
        let mut int = answer(&mut s, NOW, "s3cret", 1);
        int.params
            .iter_mut()
            .find(|p| p.name == "qop")
            .unwrap()
            .value = "auth-int".into();
        assert_eq!(
            s.verify(&int, &Method::Register, NOW, users),
            Err(DigestError::UnsupportedQop)
        );
        let auth_int_only = rfc7616_challenge("MD5");
        let mut auth_int_only = auth_int_only;
        auth_int_only.params[1].value = "auth-int".into();
        let r = authorize(
            &auth_int_only,
            &Method::Register,
            "sip:x",
            creds("p"),
            "c",
            1,
        );
        assert_eq!(r, Err(DigestError::UnsupportedQop));
    }

    #[test]
    fn qop_token_is_hashed_as_sent() {
        let mut s = server();
        let mut a = answer(&mut s, NOW, "s3cret", 1);
        let nonce = a.param("nonce").unwrap().to_owned();
        let ha1 = ha1(Algorithm::Sha256, "201", REALM, "s3cret");
        let q = QopParts {
            qop: "AUTH",
            nc: "00000001",
            cnonce: "0a4f113b",
        };
        let digest = response(
            Algorithm::Sha256,
            &ha1,
            &nonce,
            Some(q),
            "REGISTER",
            "sip:cc.local",
        );
        for p in a.params.iter_mut() {
            match p.name.as_str() {
                "qop" => p.value = "AUTH".into(),
                "response" => p.value = digest.to_ascii_uppercase().into(),
                _ => {}
            }
        }
        assert!(s.verify(&a, &Method::Register, NOW, users).is_ok());
    }

    #[test]
    fn rfc2069_credentials_only_when_allowed() {
        let legacy_challenge = |s: &mut DigestServer| {
            let mut ch = s.challenge(NOW, false).pop().unwrap();
            ch.params.retain(|p| p.name != "qop");
            ch
        };
        let mut strict = server();
        let ch = legacy_challenge(&mut strict);
        assert_eq!(ch.param("algorithm"), Some("MD5"));
        let a = authorize(
            &ch,
            &Method::Register,
            "sip:cc.local",
            creds("s3cret"),
            "",
            0,
        )
        .unwrap();
        assert_eq!(a.param("nc"), None);
        assert_eq!(a.param("cnonce"), None);
        assert_eq!(
            strict.verify(&a, &Method::Register, NOW, users),
            Err(DigestError::UnsupportedQop)
        );

        let mut cfg = DigestConfig::new(REALM, SECRET, 0);
        cfg.allow_no_qop = true;
        let mut lax = DigestServer::new(cfg).unwrap();
        let ch = legacy_challenge(&mut lax);
        let a = authorize(
            &ch,
            &Method::Register,
            "sip:cc.local",
            creds("s3cret"),
            "",
            0,
        )
        .unwrap();
        let v = lax.verify(&a, &Method::Register, NOW, users).unwrap();
        assert_eq!(v.qop, None);
        let bad = authorize(&ch, &Method::Register, "sip:cc.local", creds("nope"), "", 0).unwrap();
        assert_eq!(
            lax.verify(&bad, &Method::Register, NOW, users),
            Err(DigestError::BadResponse)
        );
    }

    #[test]
    fn config_is_validated_and_secrets_are_not_printed() {
        let short = DigestConfig::new(REALM, b"short".to_vec(), 0);
        assert_eq!(
            DigestServer::new(short).err(),
            Some(DigestConfigError::ShortSecret)
        );
        let mut none = DigestConfig::new(REALM, SECRET, 0);
        none.algorithms.clear();
        assert_eq!(
            DigestServer::new(none).err(),
            Some(DigestConfigError::NoAlgorithm)
        );
        let dbg = format!(
            "{:?} {:?}",
            server(),
            UserSecret::Password("hunter2".into())
        );
        assert!(
            !dbg.contains("shared-secret") && !dbg.contains("hunter2"),
            "{dbg}"
        );
    }

    #[test]
    fn client_rejects_unusable_challenges() {
        let ch = Auth::digest()
            .with("realm", "r", true)
            .with("algorithm", "SHA-512-256", false)
            .with("nonce", "n", true);
        assert_eq!(pick_challenge([&ch]), None);
        assert_eq!(
            authorize(&ch, &Method::Invite, "sip:x", creds("p"), "c", 1),
            Err(DigestError::UnsupportedAlgorithm)
        );
        let no_nonce = Auth::digest().with("realm", "r", true);
        assert_eq!(
            authorize(&no_nonce, &Method::Invite, "sip:x", creds("p"), "c", 1),
            Err(DigestError::Malformed(Field::Nonce))
        );
        let ok = rfc7616_challenge("MD5");
        assert_eq!(
            authorize(&ok, &Method::Invite, "sip:x", creds("p"), "c", 0),
            Err(DigestError::Malformed(Field::Nc))
        );
        assert_eq!(pick_challenge([&ch, &ok]), Some(&ok));
    }

    proptest::proptest! {
        #[test]
        fn verify_never_panics(
            params in proptest::collection::vec(
                (
                    proptest::sample::select(vec![
                        "username", "realm", "nonce", "uri", "response", "algorithm", "qop", "nc",
                        "cnonce", "opaque", "stale", "x",
                    ]),
                    "[0-9a-fA-F]{0,70}|.{0,20}|auth|MD5|SHA-256-sess|cc.local|201",
                    proptest::bool::ANY,
                ),
                0..12,
            )
        ) {
            let mut s = server();
            let mut a = Auth::digest();
            for (n, v, q) in &params {
                a = a.with(n, v, *q);
            }
            let _ = s.verify(&a, &Method::Invite, NOW, users);
            let _ = authorize(&a, &Method::Invite, "sip:x", creds("p"), "c", 1);
        }

        #[test]
        fn mutated_valid_credentials_never_panic(which in 0usize..10, value in ".{0,70}") {
            let mut s = server();
            let mut a = answer(&mut s, NOW, "s3cret", 1);
            let i = which % a.params.len();
            let unchanged = a.params[i].value == value;
            a.params[i].value = value.into();
            let r = s.verify(&a, &Method::Register, NOW, users);
            proptest::prop_assert!(unchanged || r.is_err() || a.params[i].name == "algorithm");
        }
    }
}
