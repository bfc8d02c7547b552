//! The container log (`edge_agent::logs`) through its public API: the CRI format, partial
//! lines, rotation, `--tail`, `--previous` and `--follow`. (Wasm containers are its first
//! writer, hence the file's name.)

use std::fs;
use std::path::Path;
use std::time::Duration;

use edge_agent::logs::{
    ContainerLog, LogError, LogLine, LogOptions, LogQuery, LogStream, MAX_LINE_BYTES, follow_logs,
    read_logs,
};
use futures::{Stream, StreamExt};

fn messages(lines: &[LogLine]) -> Vec<String> {
    lines
        .iter()
        .map(|l| format!("{} {}", l.stream, String::from_utf8_lossy(&l.message)))
        .collect()
}

fn raw(dir: &Path, name: &str) -> String {
    fs::read_to_string(dir.join(name)).unwrap_or_default()
}

#[test]
fn writes_cri_lines_and_reads_them_back() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let log = ContainerLog::open(dir.path(), 0, LogOptions::default())?;
    log.write(LogStream::Stdout, b"hello\nwor")?;
    log.write(LogStream::Stderr, b"oops\n")?;
    log.write(LogStream::Stdout, b"ld\n")?;
    log.write(LogStream::Stdout, b"no newline")?;
    log.flush()?;

    let text = raw(dir.path(), "0.log");
    let entries: Vec<&str> = text.lines().collect();
    assert_eq!(entries.len(), 4, "{text}");
    let first: Vec<&str> = entries[0].splitn(4, ' ').collect();
    assert!(
        first[0].ends_with('Z') && first[0].len() == 30,
        "{}",
        first[0]
    );
    assert!(first[0].parse::<jiff::Timestamp>().is_ok());
    assert_eq!(&first[1..], ["stdout", "F", "hello"]);
    assert!(entries[1].ends_with(" stderr F oops"));
    assert!(entries[2].ends_with(" stdout F world"));
    assert!(entries[3].ends_with(" stdout F no newline"));

    let lines = read_logs(dir.path(), &LogQuery::default())?;
    assert_eq!(
        messages(&lines),
        [
            "stdout hello",
            "stderr oops",
            "stdout world",
            "stdout no newline"
        ]
    );
    let rendered = String::from_utf8(lines[0].render(true))?;
    assert!(rendered.ends_with("Z hello\n"), "{rendered}");
    assert_eq!(lines[0].render(false), b"hello\n");
    Ok(())
}

#[test]
fn long_lines_become_partial_entries_and_are_joined() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let log = ContainerLog::open(dir.path(), 0, LogOptions::default())?;
    let long = vec![b'x'; MAX_LINE_BYTES * 2 + 10];
    log.write(LogStream::Stdout, &long)?;
    log.write(LogStream::Stdout, b"\nshort\n")?;
    let text = raw(dir.path(), "0.log");
    let tags: Vec<&str> = text
        .lines()
        .map(|l| l.split(' ').nth(2).unwrap_or(""))
        .collect();
    assert_eq!(tags, ["P", "P", "F", "F"]);
    let lines = read_logs(dir.path(), &LogQuery::default())?;
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].message, long);
    assert_eq!(lines[1].message, b"short");
    Ok(())
}

#[test]
fn rotates_by_size_and_tail_spans_files() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let options = LogOptions {
        max_file_bytes: 200,
        rotated_files: 1,
    };
    let log = ContainerLog::open(dir.path(), 0, options)?;
    for i in 0..20 {
        log.write(LogStream::Stdout, format!("line {i}\n").as_bytes())?;
    }
    assert!(fs::metadata(dir.path().join("0.log"))?.len() <= 200);
    assert!(dir.path().join("0.log.1").exists());
    assert!(!dir.path().join("0.log.2").exists());
    let all = read_logs(dir.path(), &LogQuery::default())?;
    assert_eq!(
        all.last().map(|l| l.message.as_slice()),
        Some(&b"line 19"[..])
    );
    assert!(all.len() < 20, "the oldest lines were rotated away");
    let tail = read_logs(
        dir.path(),
        &LogQuery {
            tail: Some(5),
            ..LogQuery::default()
        },
    )?;
    let expected: Vec<String> = (15..20).map(|i| format!("stdout line {i}")).collect();
    assert_eq!(messages(&tail), expected);
    Ok(())
}

#[test]
fn previous_reads_the_instance_before_and_older_ones_are_removed() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    for restart in 0..3 {
        let log = ContainerLog::open(dir.path(), restart, LogOptions::default())?;
        log.write(LogStream::Stdout, format!("run {restart}\n").as_bytes())?;
    }
    assert!(!dir.path().join("0.log").exists());
    let current = read_logs(dir.path(), &LogQuery::default())?;
    assert_eq!(messages(&current), ["stdout run 2"]);
    let previous = read_logs(
        dir.path(),
        &LogQuery {
            previous: true,
            ..LogQuery::default()
        },
    )?;
    assert_eq!(messages(&previous), ["stdout run 1"]);

    let fresh = tempfile::tempdir()?;
    ContainerLog::open(fresh.path(), 0, LogOptions::default())?;
    let err = read_logs(
        fresh.path(),
        &LogQuery {
            previous: true,
            ..LogQuery::default()
        },
    );
    assert!(matches!(err, Err(LogError::NoPrevious { .. })));
    let empty = tempfile::tempdir()?;
    assert!(matches!(
        read_logs(empty.path(), &LogQuery::default()),
        Err(LogError::NoLogs { .. })
    ));
    Ok(())
}

async fn next_line<S>(stream: &mut S) -> anyhow::Result<Option<LogLine>>
where
    S: Stream<Item = Result<LogLine, LogError>> + Unpin,
{
    let next = tokio::time::timeout(Duration::from_secs(5), stream.next()).await?;
    Ok(next.transpose()?)
}

#[tokio::test]
async fn follow_streams_new_lines_across_rotation_and_ends_on_restart() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let options = LogOptions {
        max_file_bytes: 300,
        rotated_files: 1,
    };
    let log = ContainerLog::open(dir.path(), 0, options)?;
    log.write(LogStream::Stdout, b"a\nb\nc\n")?;
    let query = LogQuery {
        tail: Some(1),
        ..LogQuery::default()
    };
    let mut stream = Box::pin(follow_logs(dir.path(), &query)?);
    assert_eq!(
        next_line(&mut stream).await?.map(|l| l.message),
        Some(b"c".to_vec())
    );
    // Enough lines to rotate the file twice while following.
    for i in 0..12 {
        log.write(LogStream::Stderr, format!("follow {i:02}\n").as_bytes())?;
        let line = next_line(&mut stream).await?;
        assert_eq!(
            line.map(|l| l.message),
            Some(format!("follow {i:02}").into_bytes())
        );
    }
    assert!(dir.path().join("0.log.1").exists());
    ContainerLog::open(dir.path(), 1, options)?;
    assert!(
        next_line(&mut stream).await?.is_none(),
        "a restart ends the follow"
    );
    Ok(())
}
