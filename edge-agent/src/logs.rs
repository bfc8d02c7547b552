//! Container logs in the CRI format: the writer every runtime feeds and the reader behind `kubectl logs`.
//!
//! Each container has a directory with one file per container instance, named by its restart
//! count: `<dir>/0.log`, `<dir>/1.log`, ... A file over the size limit is rotated to
//! `<n>.log.1` (older rotations shift to `.2`, ... and the oldest is dropped). Opening instance
//! `n` deletes the files of instances before `n - 1`, so `--previous` always has the one before.
//!
//! A line is `2016-10-06T00:17:09.669794202Z stdout F message`: RFC 3339 time with nanoseconds,
//! the stream, `F` for a full line or `P` for a part of a longer one, and the text without its
//! newline. That is the kubelet's format, so `crictl` and log shippers read these files as they
//! read containerd's.

use std::collections::VecDeque;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::Stream;

/// Rotate a log file once it would grow past this many bytes (the kubelet's default).
pub const DEFAULT_MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;
/// How many rotated files to keep next to the current one.
pub const DEFAULT_ROTATED_FILES: usize = 1;
/// Output without a newline is written as `P` parts of this size, as containerd does, so one
/// endless line cannot hold memory.
pub const MAX_LINE_BYTES: usize = 16 * 1024;
/// How often a follower looks for new lines.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(100);

/// Errors of the log writer and reader.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("container log {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("no logs in {dir}: the container has not started yet")]
    NoLogs { dir: PathBuf },
    #[error("no previous container instance in {dir}: the container has not restarted")]
    NoPrevious { dir: PathBuf },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LogError + '_ {
    move |source| LogError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    Stdout,
    Stderr,
}

impl LogStream {
    fn as_str(self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
        }
    }

    fn index(self) -> usize {
        match self {
            LogStream::Stdout => 0,
            LogStream::Stderr => 1,
        }
    }
}

impl fmt::Display for LogStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Size-based rotation settings.
#[derive(Debug, Clone, Copy)]
pub struct LogOptions {
    pub max_file_bytes: u64,
    pub rotated_files: usize,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            rotated_files: DEFAULT_ROTATED_FILES,
        }
    }
}

/// The log of one container instance; cheap to clone, and every clone writes to the same file.
///
/// Writes are synchronous appends to the page cache under a mutex: small, and ordered across
/// the stdout and stderr of every instance of a Wasm component that share this log.
#[derive(Clone)]
pub struct ContainerLog {
    inner: Arc<Mutex<LogFile>>,
    path: Arc<PathBuf>,
}

impl fmt::Debug for ContainerLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContainerLog")
            .field("path", &self.path)
            .finish()
    }
}

struct LogFile {
    path: PathBuf,
    file: File,
    size: u64,
    options: LogOptions,
    /// Output of each stream since its last newline.
    pending: [Vec<u8>; 2],
}

impl ContainerLog {
    /// Opens (appending) the log of instance `restart_count` in the container's directory `dir`,
    /// and deletes the logs of instances older than the previous one.
    pub fn open(dir: &Path, restart_count: u32, options: LogOptions) -> Result<Self, LogError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        for (instance, files) in instance_files(dir)? {
            if instance + 1 < restart_count {
                for file in files {
                    fs::remove_file(&file).map_err(io_err(&file))?;
                }
            }
        }
        let path = dir.join(format!("{restart_count}.log"));
        let file = open_append(&path)?;
        let size = file.metadata().map_err(io_err(&path))?.len();
        Ok(ContainerLog {
            path: Arc::new(path.clone()),
            inner: Arc::new(Mutex::new(LogFile {
                path,
                file,
                size,
                options,
                pending: [Vec::new(), Vec::new()],
            })),
        })
    }

    /// The file currently written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends raw output of a stream: every completed line becomes an `F` entry; output without
    /// a newline waits for the rest of its line (or becomes `P` parts once it is long).
    pub fn write(&self, stream: LogStream, bytes: &[u8]) -> Result<(), LogError> {
        let mut log = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut rest = bytes;
        while let Some(newline) = rest.iter().position(|&b| b == b'\n') {
            let (line, tail) = rest.split_at(newline);
            rest = &tail[1..];
            let mut full = std::mem::take(&mut log.pending[stream.index()]);
            full.extend_from_slice(line);
            log.write_line(stream, &full)?;
        }
        log.pending[stream.index()].extend_from_slice(rest);
        while log.pending[stream.index()].len() >= MAX_LINE_BYTES {
            let pending = std::mem::take(&mut log.pending[stream.index()]);
            let (part, tail) = pending.split_at(MAX_LINE_BYTES);
            log.write_entry(stream, 'P', part)?;
            log.pending[stream.index()] = tail.to_vec();
        }
        Ok(())
    }

    /// Writes a message from the runtime itself (a trap, say) as full lines of a stream.
    pub fn write_message(&self, stream: LogStream, message: &str) -> Result<(), LogError> {
        self.flush()?;
        let mut text = message.to_owned();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        self.write(stream, text.as_bytes())
    }

    /// Ends the output: what is left without a newline is written as full lines. Called when the
    /// container stops.
    pub fn flush(&self) -> Result<(), LogError> {
        let mut log = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        for stream in [LogStream::Stdout, LogStream::Stderr] {
            let pending = std::mem::take(&mut log.pending[stream.index()]);
            if !pending.is_empty() {
                log.write_line(stream, &pending)?;
            }
        }
        Ok(())
    }
}

impl LogFile {
    /// A complete line, split into `P` parts when longer than [`MAX_LINE_BYTES`].
    fn write_line(&mut self, stream: LogStream, line: &[u8]) -> Result<(), LogError> {
        let mut rest = line;
        while rest.len() > MAX_LINE_BYTES {
            let (part, tail) = rest.split_at(MAX_LINE_BYTES);
            self.write_entry(stream, 'P', part)?;
            rest = tail;
        }
        self.write_entry(stream, 'F', rest)
    }

    fn write_entry(
        &mut self,
        stream: LogStream,
        tag: char,
        message: &[u8],
    ) -> Result<(), LogError> {
        let mut entry = format!("{:.9} {stream} {tag} ", jiff::Timestamp::now()).into_bytes();
        entry.extend_from_slice(message);
        entry.push(b'\n');
        let len = entry.len() as u64;
        if self.size > 0 && self.size + len > self.options.max_file_bytes {
            self.rotate()?;
        }
        self.file.write_all(&entry).map_err(io_err(&self.path))?;
        self.size += len;
        Ok(())
    }

    fn rotate(&mut self) -> Result<(), LogError> {
        let rotated = |n: usize| PathBuf::from(format!("{}.{n}", self.path.display()));
        if self.options.rotated_files == 0 {
            self.file.set_len(0).map_err(io_err(&self.path))?;
            self.size = 0;
            return Ok(());
        }
        for n in (1..self.options.rotated_files).rev() {
            let from = rotated(n);
            if from.exists() {
                fs::rename(&from, rotated(n + 1)).map_err(io_err(&from))?;
            }
        }
        fs::rename(&self.path, rotated(1)).map_err(io_err(&self.path))?;
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

fn open_append(path: &Path) -> Result<File, LogError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io_err(path))
}

/// The log files of each instance in `dir`, oldest instance first, each instance's files oldest
/// first (`n.log.2`, `n.log.1`, `n.log`).
fn instance_files(dir: &Path) -> Result<Vec<(u32, Vec<PathBuf>)>, LogError> {
    let mut found: Vec<(u32, usize, PathBuf)> = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some((instance, rest)) = name.split_once(".log") else {
            continue;
        };
        let Ok(instance) = instance.parse::<u32>() else {
            continue;
        };
        let rotation = match rest.strip_prefix('.') {
            None if rest.is_empty() => 0,
            Some(n) => match n.parse::<usize>() {
                Ok(n) => n,
                Err(_) => continue,
            },
            None => continue,
        };
        found.push((instance, rotation, entry.path()));
    }
    // Oldest instance first; within one instance the highest rotation number is the oldest.
    found.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut instances: Vec<(u32, Vec<PathBuf>)> = Vec::new();
    for (instance, _, path) in found {
        match instances.last_mut() {
            Some((last, files)) if *last == instance => files.push(path),
            _ => instances.push((instance, vec![path])),
        }
    }
    Ok(instances)
}

/// What `kubectl logs` asks for.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogQuery {
    /// The instance before the current one (`--previous`).
    pub previous: bool,
    /// Only the last lines (`--tail N`).
    pub tail: Option<usize>,
}

/// One line of output, with its parts joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub time: jiff::Timestamp,
    pub stream: LogStream,
    /// The text without its newline.
    pub message: Vec<u8>,
}

impl LogLine {
    /// The line as `kubectl logs` prints it, with `--timestamps` when asked.
    pub fn render(&self, timestamps: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.message.len() + 32);
        if timestamps {
            out.extend_from_slice(format!("{:.9} ", self.time).as_bytes());
        }
        out.extend_from_slice(&self.message);
        out.push(b'\n');
        out
    }
}

/// Joins CRI entries into lines; malformed entries (a torn write after a crash) are skipped.
#[derive(Default)]
struct LineParser {
    partial: [Vec<u8>; 2],
}

impl LineParser {
    fn push(&mut self, entry: &[u8]) -> Option<LogLine> {
        let mut fields = entry.splitn(4, |&b| b == b' ');
        let time = std::str::from_utf8(fields.next()?).ok()?.parse().ok()?;
        let stream = match fields.next()? {
            b"stdout" => LogStream::Stdout,
            b"stderr" => LogStream::Stderr,
            _ => return None,
        };
        let tag = fields.next()?;
        let message = fields.next().unwrap_or_default();
        let partial = &mut self.partial[stream.index()];
        partial.extend_from_slice(message);
        match tag {
            b"P" => None,
            _ => Some(LogLine {
                time,
                stream,
                message: std::mem::take(partial),
            }),
        }
    }
}

/// The files of the instance a query asks for.
fn query_files(dir: &Path, query: &LogQuery) -> Result<(u32, Vec<PathBuf>), LogError> {
    let mut instances = instance_files(dir)?;
    let current = instances.pop().ok_or_else(|| LogError::NoLogs {
        dir: dir.to_path_buf(),
    })?;
    if query.previous {
        return instances.pop().ok_or_else(|| LogError::NoPrevious {
            dir: dir.to_path_buf(),
        });
    }
    Ok(current)
}

fn apply_tail(lines: &mut VecDeque<LogLine>, tail: Option<usize>) {
    if let Some(tail) = tail {
        while lines.len() > tail {
            lines.pop_front();
        }
    }
}

/// Reads the logs of a container directory (`<dir>` as given to [`ContainerLog::open`]).
pub fn read_logs(dir: &Path, query: &LogQuery) -> Result<Vec<LogLine>, LogError> {
    let (_, files) = query_files(dir, query)?;
    let mut parser = LineParser::default();
    let mut lines = VecDeque::new();
    for path in files {
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            // Rotated away between listing and reading: its lines are in the next file.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(&path)(e)),
        };
        for entry in bytes.split(|&b| b == b'\n') {
            if let Some(line) = parser.push(entry) {
                lines.push_back(line);
                apply_tail(&mut lines, query.tail);
            }
        }
    }
    Ok(lines.into())
}

/// Follows the current instance's log (`kubectl logs --follow`): first the lines [`read_logs`]
/// would return, then new lines as they are written, across rotations. The stream ends when a
/// newer instance's log appears (the container restarted); otherwise the caller drops it.
pub fn follow_logs(
    dir: &Path,
    query: &LogQuery,
) -> Result<impl Stream<Item = Result<LogLine, LogError>> + Send + 'static, LogError> {
    let query = LogQuery {
        previous: false,
        ..*query
    };
    let (instance, files) = query_files(dir, &query)?;
    let Some((current_path, rotated)) = files.split_last() else {
        return Err(LogError::NoLogs {
            dir: dir.to_path_buf(),
        });
    };
    let mut follower = Follower {
        dir: dir.to_path_buf(),
        instance,
        path: current_path.clone(),
        file: File::open(current_path).map_err(io_err(current_path))?,
        buffer: Vec::new(),
        parser: LineParser::default(),
        queue: VecDeque::new(),
        done: false,
    };
    for path in rotated {
        if let Ok(bytes) = fs::read(path) {
            follower.take_bytes(&bytes);
        }
    }
    follower.read_available()?;
    apply_tail(&mut follower.queue, query.tail);
    Ok(futures::stream::unfold(
        follower,
        |mut follower| async move {
            loop {
                if let Some(line) = follower.queue.pop_front() {
                    return Some((Ok(line), follower));
                }
                if follower.done {
                    return None;
                }
                match follower.poll_once() {
                    Ok(true) => continue,
                    Ok(false) => tokio::time::sleep(FOLLOW_INTERVAL).await,
                    Err(e) => {
                        follower.done = true;
                        return Some((Err(e), follower));
                    }
                }
            }
        },
    ))
}

struct Follower {
    dir: PathBuf,
    instance: u32,
    path: PathBuf,
    /// The open file; after a rotation it still reads the renamed file to its end.
    file: File,
    /// Bytes after the last newline read.
    buffer: Vec<u8>,
    parser: LineParser,
    queue: VecDeque<LogLine>,
    done: bool,
}

impl Follower {
    fn take_bytes(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
        if let Some(last_newline) = self.buffer.iter().rposition(|&b| b == b'\n') {
            let complete: Vec<u8> = self.buffer.drain(..=last_newline).collect();
            for entry in complete[..complete.len() - 1].split(|&b| b == b'\n') {
                if let Some(line) = self.parser.push(entry) {
                    self.queue.push_back(line);
                }
            }
        }
    }

    /// Reads the open file to its end; returns whether anything was read.
    fn read_available(&mut self) -> Result<bool, LogError> {
        let mut bytes = Vec::new();
        self.file
            .read_to_end(&mut bytes)
            .map_err(io_err(&self.path))?;
        self.take_bytes(&bytes);
        Ok(!bytes.is_empty())
    }

    /// One look for new output; returns whether lines may have been queued.
    fn poll_once(&mut self) -> Result<bool, LogError> {
        if self.read_available()? {
            return Ok(true);
        }
        let rotated = match fs::metadata(&self.path) {
            Ok(meta) => {
                let open = self.file.metadata().map_err(io_err(&self.path))?;
                meta.ino() != open.ino() || meta.dev() != open.dev()
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(io_err(&self.path)(e)),
        };
        if rotated {
            // The old file was read to its end above; continue with the new one.
            self.file = File::open(&self.path).map_err(io_err(&self.path))?;
            return Ok(true);
        }
        let restarted = instance_files(&self.dir)?
            .last()
            .is_some_and(|(newest, _)| *newest > self.instance);
        if restarted {
            self.read_available()?;
            self.done = true;
            return Ok(true);
        }
        Ok(false)
    }
}
