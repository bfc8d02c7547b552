//! Tests of the on-disk cluster PKI.

use std::fs;

use edge_wire::pki::{cert_sans, cert_subject, first_cert};

use super::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn opts() -> PkiOptions {
    PkiOptions {
        controller_name: "c1".into(),
        hostnames: vec!["edge-ctl.example".into()],
        ips: vec!["192.0.2.10".parse().expect("ip")],
        admin_server_url: "https://127.0.0.1:6443".into(),
    }
}

#[test]
fn first_start_creates_everything_privately() -> TestResult {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let pki = ClusterPki::load_or_create(&data, &opts())?;
    for file in [
        "pki/ca.crt",
        "pki/ca.key",
        "pki/controller.crt",
        "pki/controller.key",
        "admin.conf",
    ] {
        let meta = fs::metadata(data.join(file))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{file}");
        }
        assert!(meta.len() > 0, "{file}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            fs::metadata(data.join("pki"))?.permissions().mode() & 0o777,
            0o700
        );
    }

    let subject = cert_subject(&first_cert(&pki.controller_cert_pem, "test")?)?;
    assert_eq!(subject.common_name, "system:controller:c1");
    assert_eq!(subject.organizations, vec![CONTROLLERS_GROUP]);
    let (dns, ips) = cert_sans(&pki.controller_cert_pem)?;
    for name in [
        "edge-ctl.example",
        "localhost",
        "kubernetes.default.svc.cluster.local",
    ] {
        assert!(dns.iter().any(|d| d == name), "{name} in {dns:?}");
    }
    for ip in ["192.0.2.10", "127.0.0.1", "::1", "10.43.0.1"] {
        assert!(ips.contains(&ip.parse()?), "{ip} in {ips:?}");
    }
    pki.ca
        .check_issued(&pki.controller_cert_pem, &pki.controller_key_pem)?;
    assert_eq!(pki.ca_pin(), edge_wire::pki::ca_pin(pki.ca.cert_pem())?);
    pki.server_tls_config()?;
    pki.peer_client()?;

    let admin = Kubeconfig::load(&data.join("admin.conf"))?.resolve(None)?;
    assert_eq!(admin.context, "admin@edgeplane");
    assert_eq!(admin.server, "https://127.0.0.1:6443");
    assert_eq!(admin.ca_pem.as_deref(), Some(pki.ca.cert_pem()));
    let cert = admin
        .client_cert_pem
        .ok_or("admin.conf has no certificate")?;
    let key = admin.client_key_pem.ok_or("admin.conf has no key")?;
    pki.ca.check_issued(&cert, &key)?;
    let admin_subject = cert_subject(&first_cert(&cert, "test")?)?;
    assert_eq!(admin_subject.common_name, "kubernetes-admin");
    assert_eq!(admin_subject.organizations, vec![ADMIN_GROUP]);
    Ok(())
}

#[test]
fn restart_keeps_the_ca_and_a_current_certificate() -> TestResult {
    let dir = tempfile::tempdir()?;
    let first = ClusterPki::load_or_create(dir.path(), &opts())?;
    let admin = fs::read_to_string(dir.path().join("admin.conf"))?;
    let second = ClusterPki::load_or_create(dir.path(), &opts())?;
    assert_eq!(second.ca.cert_pem(), first.ca.cert_pem());
    assert_eq!(second.controller_cert_pem, first.controller_cert_pem);
    assert_eq!(fs::read_to_string(dir.path().join("admin.conf"))?, admin);
    Ok(())
}

#[test]
fn certificate_is_reissued_for_new_names_expiry_or_a_foreign_issuer() -> TestResult {
    let dir = tempfile::tempdir()?;
    let first = ClusterPki::load_or_create(dir.path(), &opts())?;

    // A new hostname.
    let mut more = opts();
    more.hostnames.push("new.example".into());
    let renamed = ClusterPki::load_or_create(dir.path(), &more)?;
    assert_ne!(renamed.controller_cert_pem, first.controller_cert_pem);
    assert!(
        cert_sans(&renamed.controller_cert_pem)?
            .0
            .contains(&"new.example".to_owned())
    );
    // A subset of the names is still covered: no reissue.
    let kept = ClusterPki::load_or_create(dir.path(), &opts())?;
    assert_eq!(kept.controller_cert_pem, renamed.controller_cert_pem);

    // Expiring within 30 days.
    let mut req = controller_request(&opts());
    req.validity = Duration::from_secs(10 * 24 * 3600);
    let short = first.ca.issue(&req)?;
    fs::write(dir.path().join("pki/controller.crt"), &short.cert_pem)?;
    fs::write(dir.path().join("pki/controller.key"), &short.key_pem)?;
    let renewed = ClusterPki::load_or_create(dir.path(), &opts())?;
    assert_ne!(renewed.controller_cert_pem, short.cert_pem);
    let left = cert_subject(&first_cert(&renewed.controller_cert_pem, "test")?)?.not_after;
    assert!(left > jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_hours(300 * 24))?);

    // Issued by another CA.
    let foreign = CertificateAuthority::generate("other")?.issue(&controller_request(&opts()))?;
    fs::write(dir.path().join("pki/controller.crt"), &foreign.cert_pem)?;
    fs::write(dir.path().join("pki/controller.key"), &foreign.key_pem)?;
    let fixed = ClusterPki::load_or_create(dir.path(), &opts())?;
    fixed
        .ca
        .check_issued(&fixed.controller_cert_pem, &fixed.controller_key_pem)?;
    Ok(())
}

#[test]
fn joining_controller_installs_the_cluster_ca() -> TestResult {
    let first = tempfile::tempdir()?;
    let second = tempfile::tempdir()?;
    let cluster = ClusterPki::load_or_create(first.path(), &opts())?;
    ClusterPki::install_ca(second.path(), cluster.ca.cert_pem(), cluster.ca.key_pem())?;
    // Installing the same CA again is fine.
    ClusterPki::install_ca(second.path(), cluster.ca.cert_pem(), cluster.ca.key_pem())?;
    let mut peer_opts = opts();
    peer_opts.controller_name = "c2".into();
    let peer = ClusterPki::load_or_create(second.path(), &peer_opts)?;
    assert_eq!(peer.ca_pin(), cluster.ca_pin());
    cluster
        .ca
        .check_issued(&peer.controller_cert_pem, &peer.controller_key_pem)?;

    let other = CertificateAuthority::generate(CA_COMMON_NAME)?;
    let refused = ClusterPki::install_ca(second.path(), other.cert_pem(), other.key_pem());
    assert!(
        matches!(refused, Err(PkiError::OtherCa { .. })),
        "{refused:?}"
    );
    assert_eq!(
        fs::read_to_string(second.path().join("pki/ca.crt"))?,
        cluster.ca.cert_pem()
    );
    Ok(())
}

#[test]
fn half_a_ca_and_an_empty_name_are_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    ClusterPki::load_or_create(dir.path(), &opts())?;
    fs::remove_file(dir.path().join("pki/ca.key"))?;
    let err = ClusterPki::load_or_create(dir.path(), &opts())
        .err()
        .ok_or("expected an error")?;
    assert!(matches!(err, PkiError::HalfCa { .. }), "{err}");
    assert!(err.to_string().contains("ca.key"), "{err}");

    let mut nameless = opts();
    nameless.controller_name = " ".into();
    assert!(matches!(
        ClusterPki::load_or_create(dir.path(), &nameless),
        Err(PkiError::NoControllerName)
    ));
    Ok(())
}

#[test]
fn issued_users_carry_their_groups() -> TestResult {
    let dir = tempfile::tempdir()?;
    let pki = ClusterPki::load_or_create(dir.path(), &opts())?;
    let groups = vec!["edgeplane:view".to_owned(), "team-a".to_owned()];
    let user = pki.issue_user("alice", &groups, Duration::from_secs(3600))?;
    let subject = cert_subject(&first_cert(&user.cert_pem, "test")?)?;
    assert_eq!(
        (subject.common_name.as_str(), subject.organizations),
        ("alice", groups)
    );
    Ok(())
}
