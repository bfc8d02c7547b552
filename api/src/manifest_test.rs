//! Tests of manifest parsing.

use serde_json::json;

use super::*;

fn kinds(text: &str) -> Vec<String> {
    parse_documents(text)
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap_or(""),
                o["metadata"]["name"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[test]
fn yaml_multi_document() {
    let text = "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n# just a comment\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: b\n";
    assert_eq!(kinds(text), ["ConfigMap/a", "Pod/b"]);
}

#[test]
fn yaml_list_is_flattened() {
    let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a}\n- apiVersion: v1\n  kind: Service\n  metadata: {name: b}\n";
    assert_eq!(kinds(text), ["Pod/a", "Service/b"]);
    let typed = "apiVersion: v1\nkind: PodList\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: c}\n";
    assert_eq!(kinds(typed), ["Pod/c"]);
}

#[test]
fn json_forms() {
    assert_eq!(
        kinds(r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"}}"#),
        ["Pod/a"]
    );
    assert_eq!(
        kinds(
            r#"[{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"}},{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}}]}]"#
        ),
        ["Pod/a", "Secret/s"]
    );
    assert_eq!(
        kinds(
            "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"}}\n{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"b\"}}"
        ),
        ["Pod/a", "Pod/b"]
    );
    // A YAML flow mapping is not JSON but still parses.
    assert_eq!(
        kinds("{apiVersion: v1, kind: Pod, metadata: {name: y}}"),
        ["Pod/y"]
    );
    let err = parse_documents("{\"apiVersion\": \"v1\",\n \"kind\": }").expect_err("bad json");
    assert!(matches!(err, ManifestError::Json { line: 2, .. }), "{err}");
}

#[test]
fn empty_input_gives_no_objects() {
    assert_eq!(
        parse_documents("").expect("empty"),
        Vec::<serde_json::Value>::new()
    );
    assert_eq!(
        parse_documents("---\n---\n# nothing\n").expect("empty docs"),
        Vec::<serde_json::Value>::new()
    );
}

#[test]
fn errors_name_document_and_line() {
    let bad_yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: b\n   labels: x\n";
    let err = parse_documents(bad_yaml).expect_err("bad yaml");
    let msg = err.to_string();
    assert!(msg.starts_with("document 2, line 9"), "{msg}");
    assert!(msg.contains("invalid YAML"), "{msg}");

    let missing_kind = "apiVersion: v1\nkind: Pod\n---\n\napiVersion: v1\nmetadata: {name: x}\n";
    let err = parse_documents(missing_kind).expect_err("missing kind");
    assert_eq!(
        err,
        ManifestError::MissingField {
            document: 2,
            line: 5,
            location: String::new(),
            field: "kind"
        }
    );
    assert_eq!(
        err.to_string(),
        "document 2, line 5: missing \"kind\"; every object needs apiVersion and kind"
    );

    let missing_version = "kind: Pod\n";
    assert!(
        parse_documents(missing_version)
            .expect_err("no apiVersion")
            .to_string()
            .contains("missing \"apiVersion\"")
    );

    let scalar = "just a string\n";
    assert!(
        parse_documents(scalar)
            .expect_err("scalar")
            .to_string()
            .contains("found a string")
    );

    let list_item =
        json!({"apiVersion": "v1", "kind": "List", "items": [{"kind": "Pod"}]}).to_string();
    let msg = parse_documents(&list_item)
        .expect_err("list item")
        .to_string();
    assert!(msg.contains("List item 0: missing \"apiVersion\""), "{msg}");
}
