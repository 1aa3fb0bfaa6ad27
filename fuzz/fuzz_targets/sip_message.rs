//! parse_message on arbitrary bytes.
//!
//! Properties:
//! - never panics;
//! - round trip: when `x` parses, `parse(print(parse(x)))` succeeds and equals `parse(x)`,
//!   up to Content-Length headers (the serializer drops them and always writes its own,
//!   equal to the body length);
//! - printing is then a fixed point: `print(parse(print(m))) == print(m)`;
//! - `error_response_from_raw` never panics, and what it builds parses as a response.
#![no_main]

use cc_sip::{Header, Message, error_response_from_raw, parse_message};
use libfuzzer_sys::fuzz_target;

/// The message without its Content-Length headers.
fn normalized(m: &Message) -> Message {
    let mut m = m.clone();
    let headers = match &mut m {
        Message::Request(r) => &mut r.headers,
        Message::Response(r) => &mut r.headers,
    };
    headers.0.retain(|h| !matches!(h, Header::ContentLength(_)));
    m
}

fuzz_target!(|data: &[u8]| {
    if let Ok(first) = parse_message(data) {
        let printed = first.to_bytes();
        let second = match parse_message(&printed) {
            Ok(m) => m,
            Err(e) => panic!(
                "printed message does not parse again: {e}\nprinted: {:?}\nparsed from: {:?}",
                String::from_utf8_lossy(&printed),
                String::from_utf8_lossy(data),
            ),
        };
        assert_eq!(
            normalized(&first),
            normalized(&second),
            "round trip changed the message\nprinted: {:?}",
            String::from_utf8_lossy(&printed),
        );
        assert_eq!(second.to_bytes(), printed, "printing is not a fixed point");
    }

    for (status, detail) in [(400, "fuzz"), (420, "bad\r\nExtension: x"), (503, "")] {
        if let Some(resp) = error_response_from_raw(data, status, detail) {
            match parse_message(&resp) {
                Ok(Message::Response(r)) => assert_eq!(r.status, status),
                Ok(Message::Request(_)) => panic!("error response parsed as a request"),
                Err(e) => panic!(
                    "error response does not parse: {e}\nresponse: {:?}",
                    String::from_utf8_lossy(&resp)
                ),
            }
        }
    }
});
