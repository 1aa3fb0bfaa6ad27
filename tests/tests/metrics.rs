//! The Prometheus endpoint, scraped as Prometheus would: plain HTTP GET.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use cc_tests::ccd::{Ccd, metric_value};
use cc_tests::sip::{Request, SipClient, Transport};

fn scrape(node: &Ccd) -> String {
    node.scrape_metrics()
}

fn value(text: &str, metric: &str) -> Option<f64> {
    metric_value(text, metric)
}

#[test]
fn sip_counters_are_scraped_from_the_metrics_endpoint() {
    let node = Ccd::start_default();
    let mut client = SipClient::connect(Transport::Udp, node.addr());
    let uri = format!("sip:ping@{}", node.addr());
    for _ in 0..3 {
        let ping = Request::new("OPTIONS", &uri);
        client.send(&ping);
        assert_eq!(client.recv(Duration::from_secs(5)).unwrap().status, 200);
    }
    // Counters are published once a second: poll until they show, bounded.
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = scrape(&node);
        if value(&text, "sip_messages_received_total").is_some_and(|v| v >= 3.0) {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "counters never reached 3:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert_eq!(
        value(&text, "sip_transactions"),
        Some(0.0),
        "OPTIONS are stateless\n{text}"
    );
    assert_eq!(value(&text, "sip_registered_devices"), Some(0.0), "{text}");
}
