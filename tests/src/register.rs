//! REGISTER exchanges with a raw client: ask, be challenged, answer the challenge of choice.

use crate::digest::{Challenge, Credentials, authorization};
use crate::sip::{Request, Response, SipClient};
use crate::unique;

/// A REGISTER of `user` at `domain` with a Contact at the client (and `Expires` when given).
pub fn register_request(
    client: &SipClient,
    user: &str,
    domain: &str,
    expires: Option<u32>,
) -> Request {
    let aor = format!("sip:{user}@{domain}");
    let transport = client.transport().via_name().to_ascii_lowercase();
    let contact = format!("<sip:{user}@{};transport={transport}>", client.local_addr());
    let mut req = Request::new("REGISTER", &format!("sip:{domain}"))
        .from(&aor)
        .to(&aor)
        .header("Contact", &contact);
    if let Some(e) = expires {
        req = req.header("Expires", &e.to_string());
    }
    req
}

/// Sends `req` (without credentials); panics unless the answer is a 401, whose Digest
/// challenges are returned in the order offered.
pub fn challenges(client: &mut SipClient, req: &Request) -> (Response, Vec<Challenge>) {
    let r = client.exchange(req);
    assert_eq!(
        r.status,
        401,
        "REGISTER without credentials: expected 401\n{}",
        client.transcript_text()
    );
    let cs: Vec<Challenge> = r
        .all("WWW-Authenticate")
        .into_iter()
        .filter_map(Challenge::parse)
        .collect();
    assert!(!cs.is_empty(), "401 without a Digest challenge\n{}", r.raw);
    (r, cs)
}

/// Sends the next request of `req`'s call, with the same headers and an Authorization
/// answering `challenge` for `user`/`password`; returns it and its final response.
pub fn answer(
    client: &mut SipClient,
    req: &Request,
    challenge: &Challenge,
    user: &str,
    password: &str,
) -> (Request, Response) {
    let mut next = req.next_in_call();
    next.headers = req.headers.clone();
    let cnonce = unique();
    let credentials = Credentials {
        username: user,
        password,
        method: &req.method,
        uri: &req.uri,
        nc: 1,
        cnonce: &cnonce,
    };
    let next = next.header("Authorization", &authorization(challenge, &credentials));
    let r = client.exchange(&next);
    (next, r)
}
