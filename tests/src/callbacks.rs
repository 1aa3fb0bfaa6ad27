//! The Callbacks API and a customer's phone seen from a test: schedule a callback, wait for
//! its state, and read the INVITEs that reached the customer behind the trunk.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cc_proto::callbacks::v1 as pb;
use cc_proto::callbacks::v1::callbacks_client::CallbacksClient;
use tonic::transport::Channel;

use crate::ccd::Ccd;
use crate::phones::{Logged, Phone};

/// The Callbacks API of `node`, once it answers (at most 5 s).
pub async fn callbacks(node: &Ccd) -> CallbacksClient<Channel> {
    let url = format!("http://{}", node.api_addr());
    for _ in 0..50 {
        if let Ok(c) = CallbacksClient::connect(url.clone()).await {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot connect to the Callbacks API at {url}");
}

/// Milliseconds since the Unix epoch, now.
pub fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

/// Schedules a callback to `number` for `department`, due now and for an hour; its id.
/// Retries while no scheduler has been elected yet (a moment after start).
pub async fn schedule(node: &Ccd, department: &str, number: &str) -> String {
    let now = now_unix_ms();
    schedule_request(
        node,
        pb::ScheduleCallbackRequest {
            number: number.into(),
            name: "Jan Nowak".into(),
            reason: "invoice".into(),
            target: Some(pb::Target {
                target: Some(pb::target::Target::DepartmentId(department.into())),
            }),
            source: pb::Source::Api.into(),
            latest_unix_ms: now + 3_600_000,
            time_zone: "Europe/Warsaw".into(),
            ..Default::default()
        },
    )
    .await
}

/// Sends `request` until a scheduler takes it (at most 10 s); the callback's id.
pub async fn schedule_request(node: &Ccd, request: pb::ScheduleCallbackRequest) -> String {
    let mut client = callbacks(node).await;
    let mut last = None;
    for _ in 0..100 {
        match client.schedule_callback(request.clone()).await {
            Ok(r) => {
                return r
                    .into_inner()
                    .callback
                    .expect("a scheduled callback")
                    .callback_id;
            }
            Err(e) if e.code() == tonic::Code::Unavailable => last = Some(e),
            Err(e) => panic!("the callback was refused: {e}\n{}", node.log_text()),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "no scheduler took the callback: {last:?}\n{}",
        node.log_text()
    );
}

/// The callback `id` as `node` answers for it now.
pub async fn get(node: &Ccd, id: &str) -> pb::Callback {
    callbacks(node)
        .await
        .get_callback(pb::GetCallbackRequest {
            callback_id: id.into(),
        })
        .await
        .unwrap_or_else(|e| panic!("cannot get callback {id}: {e}"))
        .into_inner()
}

/// Waits (at most `within`) until the callback exists and is in `state`; the callback
/// then.
pub async fn until_state(
    node: &Ccd,
    id: &str,
    state: pb::CallbackState,
    within: Duration,
) -> pb::Callback {
    let deadline = tokio::time::Instant::now() + within;
    let mut client = callbacks(node).await;
    loop {
        let got = client
            .get_callback(pb::GetCallbackRequest {
                callback_id: id.into(),
            })
            .await;
        let seen = match got {
            Ok(c) if c.get_ref().state() == state => return c.into_inner(),
            Ok(c) => format!("{:?}: {:#?}", c.get_ref().state(), c.get_ref()),
            Err(e) if e.code() == tonic::Code::NotFound => "not there".to_owned(),
            Err(e) => panic!("cannot get callback {id}: {e}"),
        };
        assert!(
            tokio::time::Instant::now() < deadline,
            "the callback is {seen}, not {state:?}, after {within:?}\n{}",
            node.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The INVITEs `phone` received.
pub fn invites(phone: &Phone) -> Vec<Logged> {
    phone
        .log()
        .into_iter()
        .filter(|m| m.received && m.is_request("INVITE"))
        .collect()
}

/// When `phone` received its first INVITE (SIPp's clock, seconds).
pub fn first_invite_at(phone: &Phone) -> f64 {
    invites(phone)
        .first()
        .unwrap_or_else(|| panic!("no INVITE\n{}", phone.describe()))
        .at
}

/// The header line `name:` of a logged message.
pub fn header<'a>(m: &'a Logged, name: &str) -> &'a str {
    m.text
        .lines()
        .find(|l| {
            l.split_once(':')
                .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        })
        .unwrap_or_else(|| panic!("no {name} header in\n{}", m.text))
}
