//! Property: any well-formed message this strategy builds parses, and printing then parsing
//! again gives the same message (print(parse(x)) round trips).

use cc_sip::{Message, parse_message};
use proptest::prelude::*;

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.!*_+`'~-]{0,11}"
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,8}(\\.[a-z][a-z0-9-]{0,8}){0,2}",
        (0u8..=255, 0u8..=255, 0u8..=255, 1u8..=254)
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        Just("[2001:db8::1]".to_owned()),
    ]
}

fn port() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        (1u16..=65535).prop_map(|p| format!(":{p}"))
    ]
}

fn user() -> impl Strategy<Value = String> {
    // Includes characters that must be escaped when printed.
    prop_oneof!["[a-z0-9+.-]{1,10}", "[a-z]{1,4}%(20|40|3[Bb]|25)[a-z]{1,4}",]
}

fn uri_params() -> impl Strategy<Value = String> {
    prop::collection::vec((token(), prop::option::of(token())), 0..3).prop_map(|ps| {
        ps.into_iter()
            .map(|(n, v)| match v {
                Some(v) => format!(";{n}={v}"),
                None => format!(";{n}"),
            })
            .collect()
    })
}

fn sip_uri() -> impl Strategy<Value = String> {
    (prop::option::of(user()), host(), port(), uri_params()).prop_map(|(u, h, p, params)| match u {
        Some(u) => format!("sip:{u}@{h}{p}{params}"),
        None => format!("sip:{h}{p}{params}"),
    })
}

fn display() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[A-Za-z ]{1,12}".prop_map(|d| format!("\"{d}\" ")),
        "[A-Za-z]{1,5}".prop_map(|d| format!("\"{d} \\\"q\\\" \\\\\" ")),
    ]
}

fn name_addr(tag: bool) -> impl Strategy<Value = String> {
    (display(), sip_uri(), token()).prop_map(move |(d, u, t)| {
        if tag {
            format!("{d}<{u}>;tag={t}")
        } else {
            format!("{d}<{u}>")
        }
    })
}

fn message() -> impl Strategy<Value = Vec<u8>> {
    let method = prop::sample::select(vec![
        "INVITE", "REGISTER", "OPTIONS", "BYE", "MESSAGE", "FOO",
    ]);
    let vias = prop::collection::vec((host(), port(), token(), prop::bool::ANY), 1..4);
    let extra = prop::collection::vec(("X-[A-Za-z]{1,8}", "[ -~]{0,20}"), 0..3);
    let body = prop::collection::vec(any::<u8>(), 0..64);
    (
        method,
        sip_uri(),
        vias,
        name_addr(true),
        name_addr(false),
        token(),
        0u32..(1 << 31),
        prop::collection::vec(name_addr(false), 0..3),
        extra,
        body,
        prop::bool::ANY,
    )
        .prop_map(
            |(m, ruri, vias, from, to, call_id, cseq, contacts, extra, body, compact)| {
                let mut s = format!("{m} {ruri} SIP/2.0\r\n");
                for (h, p, b, rport) in vias {
                    let rport = if rport { ";rport" } else { "" };
                    let name = if compact { "v" } else { "Via" };
                    s += &format!("{name}: SIP/2.0/UDP {h}{p};branch=z9hG4bK{b}{rport}\r\n");
                }
                s += &format!("{}: {from}\r\n", if compact { "f" } else { "From" });
                s += &format!(
                    "To: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {m}\r\nMax-Forwards: 70\r\n"
                );
                if !contacts.is_empty() {
                    s += &format!("Contact: {}\r\n", contacts.join(", "));
                }
                for (n, v) in extra {
                    s += &format!("{n}: {}\r\n", v.trim());
                }
                s += &format!("Content-Length: {}\r\n\r\n", body.len());
                let mut bytes = s.into_bytes();
                bytes.extend_from_slice(&body);
                bytes
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn generated_messages_parse_and_round_trip(raw in message()) {
        let text = String::from_utf8_lossy(&raw).into_owned();
        let parsed = parse_message(&raw);
        prop_assert!(parsed.is_ok(), "did not parse: {:?}\n{text}", parsed.err());
        let parsed = parsed.unwrap();
        let printed = parsed.to_bytes();
        let again = parse_message(&printed);
        prop_assert_eq!(again.as_ref().ok(), Some(&parsed), "printed:\n{}", String::from_utf8_lossy(&printed));
        if let Message::Request(r) = &parsed {
            prop_assert_eq!(r.headers.content_length(), Some(r.body.len()));
        }
    }
}
