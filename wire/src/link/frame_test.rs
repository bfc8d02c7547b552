//! Frame codec tests: round trips, and every kind of bad input giving an error, never a panic.

use super::*;
use crate::link::messages::*;

fn sample_pod() -> PodRunSpec {
    PodRunSpec {
        uid: "6f1c".into(),
        namespace: "default".into(),
        name: "hello".into(),
        revision: 42,
        hostname: "hello".into(),
        restart_policy: RestartPolicy::OnFailure,
        termination_grace_secs: 30,
        containers: vec![ContainerRunSpec {
            name: "app".into(),
            image: "127.0.0.1:6443/hello:1".into(),
            runtime: RuntimeKind::Wasm,
            env: vec![("GREETING".into(), "hi".into())],
            ports: vec![PortSpec {
                name: Some("http".into()),
                container_port: 8080,
                host_port: Some(30080),
                protocol: "TCP".into(),
            }],
            readiness: Some(Probe {
                action: ProbeAction::HttpGet {
                    path: "/healthz".into(),
                    port: 8080,
                    scheme: "HTTP".into(),
                    headers: vec![],
                },
                initial_delay_secs: 0,
                period_secs: 10,
                timeout_secs: 1,
                success_threshold: 1,
                failure_threshold: 3,
            }),
            ..Default::default()
        }],
        volumes: vec![VolumeSpec {
            name: "cfg".into(),
            source: VolumeSource::Files {
                files: vec![VolumeFile {
                    path: "a.txt".into(),
                    content: b"x".to_vec(),
                    mode: None,
                }],
                default_mode: 0o644,
            },
        }],
        ..Default::default()
    }
}

fn messages() -> Vec<ControllerMessage> {
    vec![
        ControllerMessage::Welcome(Welcome {
            protocol: 1,
            heartbeat_ms: 10_000,
        }),
        ControllerMessage::Snapshot {
            revision: 7,
            pods: vec![sample_pod()],
        },
        ControllerMessage::Delta {
            revision: 8,
            upserts: vec![],
            removals: vec!["6f1c".into()],
        },
        ControllerMessage::Refused {
            message: "node deleted".into(),
        },
    ]
}

#[test]
fn every_message_round_trips() {
    for message in messages() {
        let frame = encode(&message).expect("valid test input");
        assert_eq!(
            u32::from_be_bytes(frame[..4].try_into().expect("valid test input")) as usize,
            frame.len() - 4
        );
        let back: ControllerMessage = decode(&frame).expect("valid test input");
        assert_eq!(back, message);
    }
}

#[test]
fn truncated_frames_are_errors() {
    let frame = encode(&messages()[1]).expect("valid test input");
    for cut in 0..frame.len() {
        let err = decode::<ControllerMessage>(&frame[..cut]).expect_err("decoding must fail");
        assert!(
            matches!(err, FrameError::Truncated),
            "cut at {cut}: {err:?}"
        );
    }
}

#[test]
fn trailing_bytes_are_an_error() {
    let mut frame = encode(&messages()[0]).expect("valid test input");
    frame.push(0);
    assert!(decode::<ControllerMessage>(&frame).is_err());
}

#[test]
fn oversized_length_is_refused_before_reading_the_body() {
    let mut frame = (MAX_FRAME_BYTES + 1).to_be_bytes().to_vec();
    frame.extend_from_slice(&[0; 16]);
    assert!(matches!(
        decode::<ControllerMessage>(&frame),
        Err(FrameError::TooLarge(_))
    ));
}

#[test]
fn garbage_never_panics() {
    // A fixed-seed xorshift so failures reproduce.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let valid = encode(&messages()[1]).expect("valid test input");
    for round in 0..20_000 {
        let mut bytes = if round % 2 == 0 {
            let len = (next() % 64) as usize;
            (0..len).map(|_| next() as u8).collect::<Vec<_>>()
        } else {
            // Valid frames with bytes flipped exercise deeper decoding paths.
            let mut v = valid.clone();
            let i = 4 + (next() as usize % (v.len() - 4));
            v[i] = next() as u8;
            v
        };
        if round % 2 == 0 && bytes.len() >= 4 {
            let len = (bytes.len() - 4) as u32;
            bytes[..4].copy_from_slice(&len.to_be_bytes());
        }
        let _ = decode::<ControllerMessage>(&bytes);
        let _ = decode::<AgentMessage>(&bytes);
        let _ = decode::<JoinRequest>(&bytes);
        let _ = decode::<StreamRequest>(&bytes);
    }
}

#[tokio::test]
async fn frames_stream_and_end_cleanly() {
    let mut buf = Vec::new();
    for message in messages() {
        write_frame(&mut buf, &message)
            .await
            .expect("valid test input");
    }
    let mut reader = &buf[..];
    for message in messages() {
        let got: ControllerMessage = read_frame(&mut reader).await.expect("valid test input");
        assert_eq!(got, message);
    }
    assert!(matches!(
        read_frame::<ControllerMessage, _>(&mut reader).await,
        Err(FrameError::Closed)
    ));
    let mut cut = &buf[..buf.len() - 1];
    let last = loop {
        if let Err(e) = read_frame::<ControllerMessage, _>(&mut cut).await {
            break e;
        }
    };
    assert!(matches!(last, FrameError::Truncated), "{last:?}");
}
