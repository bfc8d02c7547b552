//! Table tests of image reference parsing against Docker's normalisation.

use super::*;

fn hex() -> String {
    "0123456789abcdef".repeat(4)
}

/// (written, registry, repository, tag, digest, api host)
type Case<'a> = (
    String,
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    &'a str,
);

#[test]
fn references_normalise_as_docker_does() {
    let d = format!("sha256:{}", hex());
    let cases: Vec<Case> = vec![
        (
            "nginx".into(),
            "docker.io",
            "library/nginx",
            Some("latest"),
            None,
            "registry-1.docker.io",
        ),
        (
            "nginx:1.27".into(),
            "docker.io",
            "library/nginx",
            Some("1.27"),
            None,
            "registry-1.docker.io",
        ),
        (
            "bitnami/redis:7".into(),
            "docker.io",
            "bitnami/redis",
            Some("7"),
            None,
            "registry-1.docker.io",
        ),
        (
            "docker.io/nginx".into(),
            "docker.io",
            "library/nginx",
            Some("latest"),
            None,
            "registry-1.docker.io",
        ),
        (
            "index.docker.io/library/nginx".into(),
            "docker.io",
            "library/nginx",
            Some("latest"),
            None,
            "registry-1.docker.io",
        ),
        (
            "ghcr.io/org/app:v1.0.0".into(),
            "ghcr.io",
            "org/app",
            Some("v1.0.0"),
            None,
            "ghcr.io",
        ),
        (
            "localhost/app".into(),
            "localhost",
            "app",
            Some("latest"),
            None,
            "localhost",
        ),
        (
            "localhost:5000/a/b/c:x_y".into(),
            "localhost:5000",
            "a/b/c",
            Some("x_y"),
            None,
            "localhost:5000",
        ),
        (
            "10.0.0.1:6443/apps/hello:v1".into(),
            "10.0.0.1:6443",
            "apps/hello",
            Some("v1"),
            None,
            "10.0.0.1:6443",
        ),
        (
            "[fd00::1]:5000/a/b:c".into(),
            "[fd00::1]:5000",
            "a/b",
            Some("c"),
            None,
            "[fd00::1]:5000",
        ),
        (
            "Registry/app".into(),
            "Registry",
            "app",
            Some("latest"),
            None,
            "Registry",
        ),
        (
            "a.b--c/d__e.f-g:T1".into(),
            "a.b--c",
            "d__e.f-g",
            Some("T1"),
            None,
            "a.b--c",
        ),
        (
            "localhost:5000".into(),
            "docker.io",
            "library/localhost",
            Some("5000"),
            None,
            "registry-1.docker.io",
        ),
        (
            format!("nginx@{d}"),
            "docker.io",
            "library/nginx",
            None,
            Some(&d),
            "registry-1.docker.io",
        ),
        (
            format!("ghcr.io/o/a:v2@{d}"),
            "ghcr.io",
            "o/a",
            Some("v2"),
            Some(&d),
            "ghcr.io",
        ),
    ];
    for (text, registry, repository, tag, digest, api_host) in cases {
        let parsed = match ImageRef::parse(&text) {
            Ok(parsed) => parsed,
            Err(e) => panic!("{text:?}: {e}"),
        };
        assert_eq!(parsed.registry(), registry, "{text}");
        assert_eq!(parsed.repository(), repository, "{text}");
        assert_eq!(parsed.tag(), tag, "{text}");
        assert_eq!(parsed.digest(), digest, "{text}");
        assert_eq!(parsed.api_host(), api_host, "{text}");
        assert_eq!(parsed.as_written(), text);
        let reparsed = ImageRef::parse(&parsed.to_string());
        assert_eq!(
            reparsed.as_ref(),
            Ok(&parsed),
            "{text}: Display must round-trip"
        );
    }
}

#[test]
fn manifest_reference_and_store_key_prefer_the_digest() {
    let d = format!("sha256:{}", hex());
    let pinned = ImageRef::parse(&format!("app:v1@{d}")).expect("valid");
    assert_eq!(pinned.manifest_reference(), d);
    assert_eq!(pinned.store_key(), format!("docker.io/library/app@{d}"));
    let tagged = ImageRef::parse("app").expect("valid");
    assert_eq!(tagged.manifest_reference(), "latest");
    assert_eq!(tagged.store_key(), "docker.io/library/app:latest");
    assert_eq!(tagged.to_string(), "docker.io/library/app:latest");
}

#[test]
fn invalid_references_are_refused() {
    let h = hex();
    let long_tag = "t".repeat(129);
    let long_name = format!("r/{}", "a".repeat(260));
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "empty"),
        ("Nginx".into(), "lowercase"),
        ("docker.io/Library/nginx".into(), "lowercase"),
        ("nginx:".into(), "tag"),
        ("nginx:.x".into(), "tag"),
        ("nginx:-x".into(), "tag"),
        (format!("nginx:{long_tag}"), "tag"),
        ("nginx:a/b".into(), "registry"),
        ("a//b".into(), "repository"),
        ("a/b/".into(), "repository"),
        ("-a".into(), "repository"),
        ("a.".into(), "repository"),
        ("a..b".into(), "repository"),
        ("a___b".into(), "repository"),
        ("a b".into(), "repository"),
        ("host:port/a".into(), "registry"),
        ("ho_st.io/a".into(), "registry"),
        ("-host.io/a".into(), "registry"),
        ("host.io:123456/a".into(), "registry"),
        ("[zz::1]:5000/a".into(), "registry"),
        (format!("a@sha256:{}", &h[1..]), "invalid digest"),
        (format!("a@sha512:{h}"), "unsupported digest algorithm"),
        (format!("a@{h}"), "invalid digest"),
        (long_name, "longer than"),
    ];
    for (text, why) in cases {
        match ImageRef::parse(&text) {
            Ok(parsed) => panic!("{text:?} must be refused, parsed as {parsed}"),
            Err(e) => {
                let message = e.to_string();
                assert!(
                    message.starts_with("couldn't parse image name") && message.contains(why),
                    "{text:?}: {message}"
                );
            }
        }
    }
}
