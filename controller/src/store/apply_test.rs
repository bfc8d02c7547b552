//! Table tests of the pure apply logic: preconditions, stamping, batches.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::apply::{ObjectRecord, apply_command, stamp};
use super::command::{Applied, Command, Rejected};
use super::watch::EventKind;

const A: &str = "/registry/core/pods/default/a";
const B: &str = "/registry/core/pods/default/b";

fn obj(name: &str, extra: i64) -> Vec<u8> {
    serde_json::to_vec(&json!({"metadata": {"name": name}, "spec": {"n": extra}})).expect("json")
}

/// A view with `a` at revision 5 and nothing else.
fn view() -> BTreeMap<String, ObjectRecord> {
    let (_, bytes) = stamp(&obj("a", 0), 5).expect("stamp");
    BTreeMap::from([(A.to_owned(), ObjectRecord { revision: 5, bytes })])
}

fn create(key: &str) -> Command {
    Command::Create {
        key: key.to_owned(),
        object: obj("x", 1),
    }
}

fn update(key: &str, expected_revision: Option<u64>) -> Command {
    Command::Update {
        key: key.to_owned(),
        object: obj("x", 2),
        expected_revision,
    }
}

fn delete(key: &str, expected_revision: Option<u64>) -> Command {
    Command::Delete {
        key: key.to_owned(),
        expected_revision,
    }
}

/// What a case expects: the rejection, or the kinds of the changes made (in order).
enum Expect {
    Rejected(Rejected),
    Changes(Vec<(&'static str, EventKind)>),
    /// Rejected as [`Rejected::InvalidObject`], whatever the parser's message.
    Invalid,
}

#[test]
fn apply_table() {
    let not_found = |key: &str| {
        Expect::Rejected(Rejected::NotFound {
            key: key.to_owned(),
        })
    };
    let conflict = Expect::Rejected(Rejected::Conflict {
        key: A.to_owned(),
        current_revision: 5,
    });
    let cases: Vec<(&str, Command, Expect)> = vec![
        (
            "create new",
            create(B),
            Expect::Changes(vec![(B, EventKind::Added)]),
        ),
        (
            "create existing",
            create(A),
            Expect::Rejected(Rejected::AlreadyExists { key: A.to_owned() }),
        ),
        (
            "update unconditional",
            update(A, None),
            Expect::Changes(vec![(A, EventKind::Modified)]),
        ),
        (
            "update matching revision",
            update(A, Some(5)),
            Expect::Changes(vec![(A, EventKind::Modified)]),
        ),
        ("update stale revision", update(A, Some(4)), conflict),
        ("update missing", update(B, None), not_found(B)),
        (
            "delete existing",
            delete(A, Some(5)),
            Expect::Changes(vec![(A, EventKind::Deleted)]),
        ),
        (
            "delete stale revision",
            delete(A, Some(6)),
            Expect::Rejected(Rejected::Conflict {
                key: A.to_owned(),
                current_revision: 5,
            }),
        ),
        ("delete missing", delete(B, None), not_found(B)),
        (
            "create invalid json",
            Command::Create {
                key: B.to_owned(),
                object: b"{not json".to_vec(),
            },
            Expect::Invalid,
        ),
        (
            "create non-object",
            Command::Create {
                key: B.to_owned(),
                object: b"[1]".to_vec(),
            },
            Expect::Rejected(Rejected::InvalidObject {
                key: B.to_owned(),
                message: "not a JSON object".to_owned(),
            }),
        ),
        (
            "batch all succeed, later parts see earlier ones",
            Command::Batch(vec![create(B), update(B, Some(10)), delete(A, None)]),
            Expect::Changes(vec![
                (B, EventKind::Added),
                (B, EventKind::Modified),
                (A, EventKind::Deleted),
            ]),
        ),
        (
            "batch with one failure changes nothing",
            Command::Batch(vec![create(B), update(A, Some(1))]),
            Expect::Rejected(Rejected::Conflict {
                key: A.to_owned(),
                current_revision: 5,
            }),
        ),
        (
            "nested batch is all-or-nothing too",
            Command::Batch(vec![
                delete(A, None),
                Command::Batch(vec![create(A), create(A)]),
            ]),
            Expect::Rejected(Rejected::AlreadyExists { key: A.to_owned() }),
        ),
    ];

    for (name, cmd, expect) in cases {
        let outcome = match apply_command(&view(), &cmd, 10) {
            Ok(outcome) => outcome,
            Err(never) => match never {},
        };
        match expect {
            Expect::Rejected(rejected) => {
                assert_eq!(outcome.result, Err(rejected), "{name}");
                assert!(
                    outcome.changes.is_empty(),
                    "{name}: rejected command changed state"
                );
            }
            Expect::Invalid => {
                assert!(
                    matches!(outcome.result, Err(Rejected::InvalidObject { .. })),
                    "{name}: {:?}",
                    outcome.result
                );
                assert!(outcome.changes.is_empty(), "{name}");
            }
            Expect::Changes(kinds) => {
                assert!(outcome.result.is_ok(), "{name}: {:?}", outcome.result);
                let got: Vec<_> = outcome
                    .changes
                    .iter()
                    .map(|c| (c.key.as_str(), c.kind))
                    .collect();
                assert_eq!(got, kinds, "{name}");
                for change in &outcome.changes {
                    assert_eq!(change.revision, 10, "{name}");
                    assert_eq!(
                        change.object["metadata"]["resourceVersion"],
                        json!("10"),
                        "{name}: every event carries the new revision"
                    );
                    assert_eq!(
                        change.stored.is_none(),
                        change.kind == EventKind::Deleted,
                        "{name}"
                    );
                    assert_eq!(
                        change.prev_object.is_none(),
                        change.kind == EventKind::Added,
                        "{name}"
                    );
                }
            }
        }
    }
}

#[test]
fn applied_objects_are_stamped() {
    let outcome = match apply_command(&view(), &update(A, Some(5)), 42) {
        Ok(outcome) => outcome,
        Err(never) => match never {},
    };
    let Ok(Applied::Updated { revision, object }) = outcome.result else {
        panic!("expected Updated, got {:?}", outcome.result);
    };
    assert_eq!(revision, 42);
    let value: Value = serde_json::from_slice(&object).expect("json");
    assert_eq!(value["metadata"]["resourceVersion"], json!("42"));
    assert_eq!(value["metadata"]["name"], json!("x"));
    assert_eq!(value["spec"]["n"], json!(2));
    assert_eq!(
        outcome.changes[0].stored.as_deref(),
        Some(object.as_slice())
    );
    let prev = outcome.changes[0].prev_object.as_ref().expect("prev");
    assert_eq!(prev["metadata"]["resourceVersion"], json!("5"));
}

#[test]
fn deleted_reports_last_state_at_delete_revision() {
    let outcome = match apply_command(&view(), &delete(A, None), 7) {
        Ok(outcome) => outcome,
        Err(never) => match never {},
    };
    let Ok(Applied::Deleted { revision, object }) = outcome.result else {
        panic!("expected Deleted, got {:?}", outcome.result);
    };
    assert_eq!(revision, 7);
    let value: Value = serde_json::from_slice(&object).expect("json");
    assert_eq!(value["metadata"]["resourceVersion"], json!("7"));
    assert_eq!(value["metadata"]["name"], json!("a"));
}

#[test]
fn stamp_adds_missing_metadata_and_rejects_bad_metadata() {
    let (value, _) = stamp(br#"{"kind":"Pod"}"#, 3).expect("stamp");
    assert_eq!(value["metadata"]["resourceVersion"], json!("3"));
    assert!(stamp(br#"{"metadata":"x"}"#, 3).is_err());
}
