#![allow(clippy::unwrap_used)]

use cc_common::Config;
use cc_common::config::DEMO_TOML;

use super::*;

/// The demo organisation: employees anna, piotr, maria; departments sales, support.
fn config() -> Config {
    Config::from_toml(DEMO_TOML).unwrap()
}

const T0: Timestamp = Timestamp::from_unix_ms(1_700_000_000_000);

fn new(recipient: &str) -> NewMessage {
    NewMessage {
        recipient_id: recipient.into(),
        caller: Caller {
            name: "Jan Nowak".into(),
            position: "Purchasing manager".into(),
            company: "Nowak Sp. z o.o.".into(),
        },
        substance: "The invoice of March is wrong.".into(),
        callback_number: "+48 (22) 123-45-67".into(),
        callback_time: Some(CallbackTime::Said {
            text: "after 3 pm".into(),
        }),
        deputy_id: "piotr".into(),
    }
}

fn create(new: NewMessage) -> Result<Message, MessageError> {
    Message::create(MessageId::random(), new, &config(), T0)
}

/// The field a refusal names.
fn field(e: MessageError) -> &'static str {
    match e {
        MessageError::Invalid { field, .. } => field,
        e => panic!("not a refusal of a field: {e:?}"),
    }
}

#[test]
fn a_message_is_taken_with_every_r40_field_and_the_number_normalised() {
    let m = create(new("anna")).unwrap();
    assert_eq!(m.recipient, Recipient::Employee(EmployeeId::new("anna")));
    assert_eq!(m.caller.position, "Purchasing manager");
    assert_eq!(m.callback_number.unwrap().as_str(), "+48221234567");
    assert_eq!(
        m.deputy,
        Some(Recipient::Employee(EmployeeId::new("piotr")))
    );
    assert_eq!(m.state, MessageState::New);
    assert_eq!(m.origin, Origin::Api);
    assert_eq!((m.created, m.updated), (T0, T0));
}

#[test]
fn a_department_is_a_recipient_too() {
    let m = create(new("sales")).unwrap();
    assert_eq!(
        m.recipient,
        Recipient::Department(DepartmentId::new("sales"))
    );
}

#[test]
fn an_unknown_or_missing_recipient_is_refused_naming_recipient_id() {
    let e = create(new("nobody")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "recipient_id: \"nobody\" is neither an employee nor a department id"
    );
    assert_eq!(field(create(new("")).unwrap_err()), "recipient_id");
}

#[test]
fn an_unknown_deputy_is_refused_naming_deputy_id_and_none_is_fine() {
    let mut m = new("anna");
    m.deputy_id = "ghost".into();
    assert_eq!(field(create(m.clone()).unwrap_err()), "deputy_id");
    m.deputy_id.clear();
    assert_eq!(create(m).unwrap().deputy, None);
}

#[test]
fn a_bad_callback_number_is_refused_naming_callback_number() {
    for bad in ["12x", "12", "+1234567890123456"] {
        let mut m = new("anna");
        m.callback_number = bad.into();
        let e = create(m).unwrap_err();
        assert!(
            e.to_string().starts_with("callback_number: invalid number"),
            "{bad}: {e}"
        );
    }
    let mut m = new("anna");
    m.callback_number = "  ".into();
    assert_eq!(create(m).unwrap().callback_number, None);
}

#[test]
fn too_long_text_fields_are_refused_naming_the_field() {
    let long = |n: usize| "x".repeat(n);
    type Set = fn(&mut NewMessage, String);
    let cases: [(&str, Set); 5] = [
        ("caller_name", |m, v| m.caller.name = v),
        ("caller_position", |m, v| m.caller.position = v),
        ("company", |m, v| m.caller.company = v),
        ("substance", |m, v| m.substance = v),
        ("preferred_callback_time.text", |m, v| {
            m.callback_time = Some(CallbackTime::Said { text: v });
        }),
    ];
    for (name, set) in cases {
        let max = match name {
            "substance" => MAX_SUBSTANCE,
            "preferred_callback_time.text" => MAX_WHEN,
            _ => MAX_NAME,
        };
        let mut at_limit = new("anna");
        set(&mut at_limit, long(max));
        assert!(create(at_limit).is_ok(), "{name} at its limit");
        let mut over = new("anna");
        set(&mut over, long(max + 1));
        let e = create(over).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{name}: {} characters, at most {max}", max + 1)
        );
    }
}

#[test]
fn control_characters_are_refused_but_line_breaks_are_kept() {
    let mut m = new("anna");
    m.substance = "line one\nline two\u{7}".into();
    assert_eq!(field(create(m).unwrap_err()), "substance");
    let mut m = new("anna");
    m.substance = "  line one\nline two  ".into();
    assert_eq!(create(m).unwrap().substance, "line one\nline two");
}

#[test]
fn a_window_that_does_not_end_after_it_starts_is_refused() {
    let mut m = new("anna");
    m.callback_time = Some(CallbackTime::Window {
        earliest: T0,
        latest: T0,
    });
    assert_eq!(field(create(m).unwrap_err()), "preferred_callback_time");
}

#[test]
fn the_state_only_moves_forward() {
    let m = create(new("anna")).unwrap();
    let at = |s| Edit {
        state: Some(s),
        ..Edit::default()
    };
    let later = Timestamp::from_unix_ms(T0.unix_ms() + 1000);
    let read = m.apply(at(MessageState::Read), &config(), later).unwrap();
    assert_eq!((read.state, read.updated), (MessageState::Read, later));
    let done = read
        .apply(at(MessageState::Done), &config(), later)
        .unwrap();
    assert_eq!(done.state, MessageState::Done);
    let e = done
        .apply(at(MessageState::Read), &config(), later)
        .unwrap_err();
    assert_eq!(
        e,
        MessageError::Backwards {
            from: MessageState::Done,
            to: MessageState::Read
        }
    );
    assert!(e.to_string().starts_with("state: "), "{e}");
    // Straight to done is fine.
    assert!(m.apply(at(MessageState::Done), &config(), later).is_ok());
}

#[test]
fn an_edit_replaces_the_fields_it_gives_and_checks_them() {
    let m = create(new("anna")).unwrap();
    let later = Timestamp::from_unix_ms(T0.unix_ms() + 1000);
    let edit = Edit {
        recipient_id: Some("support".into()),
        substance: Some("Settled by phone.".into()),
        callback_number: Some(String::new()),
        callback_time: Some(None),
        deputy_id: Some(String::new()),
        ..Edit::default()
    };
    let edited = m.apply(edit, &config(), later).unwrap();
    assert_eq!(
        edited.recipient,
        Recipient::Department(DepartmentId::new("support"))
    );
    assert_eq!(edited.substance, "Settled by phone.");
    assert_eq!(edited.callback_number, None);
    assert_eq!(edited.callback_time, None);
    assert_eq!(edited.deputy, None);
    assert_eq!(edited.caller, m.caller, "fields not given are kept");

    let bad = Edit {
        recipient_id: Some("nobody".into()),
        ..Edit::default()
    };
    assert_eq!(
        field(m.apply(bad, &config(), later).unwrap_err()),
        "recipient_id"
    );
    let same = m.apply(Edit::default(), &config(), later).unwrap();
    assert_eq!(
        same, m,
        "nothing changed: not even the time of the last change"
    );
}

fn left(call: &str, recipient: &str, number: &str) -> VoiceLeft {
    VoiceLeft {
        call_id: call.into(),
        recipient_id: recipient.into(),
        caller_number: number.into(),
        recording_path: "recordings/message-c1.wav".into(),
        seconds: 12.345,
        edge_node: "edge-a".into(),
        at: None,
    }
}

#[test]
fn a_voice_message_takes_the_callers_number_and_its_recording() {
    let m = Message::from_voice(left("edge-a-7", "sales", "+48221234567"), &config(), T0).unwrap();
    assert_eq!(m.id.as_str(), "call-edge-a-7");
    assert_eq!(
        m.recipient,
        Recipient::Department(DepartmentId::new("sales"))
    );
    assert_eq!(m.callback_number.unwrap().as_str(), "+48221234567");
    let Origin::Voice(voice) = m.origin else {
        panic!("not a voice message");
    };
    assert_eq!(voice.recording_ms, 12_345);
    assert_eq!(voice.caller_number, "+48221234567");
    assert_eq!(voice.edge_node, "edge-a");
}

#[test]
fn a_voice_message_is_kept_for_a_recipient_gone_and_a_withheld_number() {
    let m = Message::from_voice(left("c2", "ex-employee", ""), &config(), T0).unwrap();
    assert_eq!(m.recipient, Recipient::Unlisted("ex-employee".into()));
    assert_eq!(m.callback_number, None);
    let m = Message::from_voice(left("c3", "anna", "alice"), &config(), T0).unwrap();
    assert_eq!(
        m.callback_number, None,
        "a SIP user name is no number to call"
    );
    let e = Message::from_voice(left("", "anna", ""), &config(), T0).unwrap_err();
    assert_eq!(field(e), "call_id");
}

#[test]
fn a_call_gives_the_same_message_id_every_time_and_odd_call_ids_are_hashed() {
    assert_eq!(MessageId::for_call("n-1"), MessageId::for_call("n-1"));
    let odd = MessageId::for_call("a84b4c76e66710@pc33.atlanta.com/x");
    assert!(odd.as_str().starts_with("call-h"), "{odd}");
    assert_eq!(odd.as_str().len(), "call-h".len() + 32);
    assert!(MessageId::parse("message_id", odd.as_str()).is_ok());
    assert_ne!(
        odd,
        MessageId::for_call("a84b4c76e66710@pc33.atlanta.com/y")
    );
}

#[test]
fn ids_are_checked_and_voice_ids_are_reserved() {
    assert!(MessageId::parse("message_id", "m-1.a:b_c").is_ok());
    for bad in ["", "-m", "a/b", &"x".repeat(129)] {
        let e = MessageId::parse("message_id", bad).unwrap_err();
        assert_eq!(field(e), "message_id", "{bad:?}");
    }
    let e = MessageId::parse_new("message_id", "call-123").unwrap_err();
    assert!(e.to_string().contains("voice messages"), "{e}");
    assert_eq!(MessageId::random().as_str().len(), 36);
}
