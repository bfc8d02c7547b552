//! Tests of kubeconfig parsing, writing and context resolution.

use super::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const CA: &str = "-----BEGIN CERTIFICATE-----\nY2E=\n-----END CERTIFICATE-----\n";
const CERT: &str = "-----BEGIN CERTIFICATE-----\nY2VydA==\n-----END CERTIFICATE-----\n";
const KEY: &str = "-----BEGIN PRIVATE KEY-----\na2V5\n-----END PRIVATE KEY-----\n";

#[test]
fn for_user_saves_loads_and_resolves() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("conf/admin.conf");
    let config = Kubeconfig::for_user(
        "edgeplane",
        "https://127.0.0.1:6443",
        CA,
        "admin",
        CERT,
        KEY,
    );
    config.save(&path)?;
    let loaded = Kubeconfig::load(&path)?;
    assert_eq!(loaded, config);
    assert_eq!(loaded.current_context, "admin@edgeplane");
    let resolved = loaded.resolve(None)?;
    assert_eq!(
        resolved,
        ResolvedContext {
            context: "admin@edgeplane".into(),
            cluster: "edgeplane".into(),
            server: "https://127.0.0.1:6443".into(),
            ca_pem: Some(CA.into()),
            client_cert_pem: Some(CERT.into()),
            client_key_pem: Some(KEY.into()),
            token: None,
            namespace: None,
            insecure_skip_tls_verify: false,
        }
    );
    assert!(
        !format!("{resolved:?}").contains("a2V5"),
        "Debug hides the key"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&path)?.permissions().mode() & 0o777,
            0o600
        );
    }
    Ok(())
}

#[test]
fn kubectl_style_file_with_relative_paths() -> TestResult {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir(dir.path().join("pki"))?;
    std::fs::write(dir.path().join("pki/ca.crt"), CA)?;
    std::fs::write(dir.path().join("pki/alice.crt"), CERT)?;
    std::fs::write(dir.path().join("alice.key"), KEY)?;
    let yaml = r#"
apiVersion: v1
kind: Config
preferences: {}
clusters:
- name: edge
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority: pki/ca.crt
    extensions: [{name: x, extension: {}}]
- name: other
  cluster: {server: "https://other:6443", insecure-skip-tls-verify: true}
users:
- name: alice
  user:
    client-certificate: pki/alice.crt
    client-key: ./alice.key
- name: bob
  user: {token: s3cret, exec: {command: foo}}
contexts:
- name: alice@edge
  context: {cluster: edge, user: alice, namespace: apps}
- name: bob@other
  context: {cluster: other, user: bob}
current-context: alice@edge
"#;
    let path = dir.path().join("config");
    std::fs::write(&path, yaml)?;
    let config = Kubeconfig::load(&path)?;
    let alice = config.resolve(None)?;
    assert_eq!(alice.ca_pem.as_deref(), Some(CA));
    assert_eq!(alice.client_cert_pem.as_deref(), Some(CERT));
    assert_eq!(alice.client_key_pem.as_deref(), Some(KEY));
    assert_eq!(alice.namespace.as_deref(), Some("apps"));
    let bob = config.resolve(Some("bob@other"))?;
    assert_eq!(bob.token.as_deref(), Some("s3cret"));
    assert!(bob.insecure_skip_tls_verify);
    assert_eq!(bob.ca_pem, None);

    // Saved elsewhere and reloaded, the paths still point at the same files.
    let copy = dir.path().join("elsewhere/config");
    config.save(&copy)?;
    assert_eq!(Kubeconfig::load(&copy)?.resolve(None)?, alice);
    Ok(())
}

#[test]
fn nulls_and_missing_fields_are_defaults() -> TestResult {
    let config =
        Kubeconfig::parse("apiVersion: v1\nclusters: null\nusers:\ncurrent-context: null\n")?;
    assert!(config.clusters.is_empty() && config.users.is_empty());
    assert_eq!(config.kind, "Config");
    assert!(matches!(
        config.resolve(None),
        Err(KubeconfigError::NoContext)
    ));
    Ok(())
}

#[test]
fn resolve_errors_say_what_is_missing() -> TestResult {
    let config = Kubeconfig::for_user("c", "https://x", CA, "u", CERT, KEY);
    let err = config
        .resolve(Some("nope"))
        .err()
        .ok_or("expected an error")?;
    assert!(err.to_string().contains("u@c"), "{err}");

    let mut no_cluster = config.clone();
    no_cluster.clusters.clear();
    assert!(matches!(
        no_cluster.resolve(None),
        Err(KubeconfigError::UnknownCluster { .. })
    ));

    let mut no_user = config.clone();
    no_user.users.clear();
    assert!(matches!(
        no_user.resolve(None),
        Err(KubeconfigError::UnknownUser { .. })
    ));

    let mut bad_data = config.clone();
    bad_data.users[0].user.client_key_data = Some("%%%".into());
    assert!(matches!(
        bad_data.resolve(None),
        Err(KubeconfigError::BadData { .. })
    ));

    let mut missing_file = config;
    missing_file.users[0].user.client_key_data = None;
    missing_file.users[0].user.client_key = Some("/nonexistent/edgeplane/key.pem".into());
    let err = missing_file
        .resolve(None)
        .err()
        .ok_or("expected an error")?;
    assert!(
        err.to_string().contains("/nonexistent/edgeplane/key.pem"),
        "{err}"
    );
    Ok(())
}

#[test]
fn load_errors_name_the_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let missing = dir.path().join("missing.conf");
    let err = Kubeconfig::load(&missing)
        .err()
        .ok_or("expected an error")?;
    assert!(err.to_string().contains("missing.conf"), "{err}");

    let broken = dir.path().join("broken.conf");
    std::fs::write(&broken, "clusters: [unclosed")?;
    let err = Kubeconfig::load(&broken).err().ok_or("expected an error")?;
    assert!(err.to_string().contains("broken.conf"), "{err}");

    let pod = dir.path().join("pod.yaml");
    std::fs::write(&pod, "apiVersion: v1\nkind: Pod\n")?;
    assert!(matches!(
        Kubeconfig::load(&pod),
        Err(KubeconfigError::WrongKind { .. })
    ));
    Ok(())
}
