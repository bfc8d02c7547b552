//! Reading `-f FILE|DIR|-` (with `-R`) into objects, each tagged with the file it came from.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// A manifest object and where it came from, for error messages.
#[derive(Debug, Clone)]
pub struct SourcedObject {
    pub source: String,
    pub object: Value,
}

/// The files `-f` names: a file, `-`, or a directory's `.yaml`/`.yml`/`.json` files in sorted
/// order (descending into subdirectories only with `-R`).
pub fn expand_paths(args: &[PathBuf], recursive: bool) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for arg in args {
        if arg.as_os_str() == "-" {
            files.push(arg.clone());
            continue;
        }
        let metadata = std::fs::metadata(arg)
            .with_context(|| format!("the path \"{}\" does not exist", arg.display()))?;
        if metadata.is_dir() {
            collect_dir(arg, recursive, &mut files)?;
        } else {
            files.push(arg.clone());
        }
    }
    Ok(files)
}

fn collect_dir(dir: &Path, recursive: bool, files: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read directory {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            if recursive {
                collect_dir(&path, recursive, files)?;
            }
        } else if is_manifest(&path) {
            files.push(path);
        }
    }
    Ok(())
}

fn is_manifest(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

/// Reads and parses every object of every `-f` argument. An unreadable or unparsable file is an error.
pub fn read_objects(args: &[PathBuf], recursive: bool) -> Result<Vec<SourcedObject>> {
    if args.is_empty() {
        bail!("must specify one of -f and -k");
    }
    let mut objects = Vec::new();
    for path in expand_paths(args, recursive)? {
        let (source, text) = if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read standard input")?;
            ("STDIN".to_string(), text)
        } else {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            (path.display().to_string(), text)
        };
        let parsed = edge_api::manifest::parse_documents(&text)
            .map_err(|e| anyhow::anyhow!("error parsing {source}: {e}"))?;
        objects.extend(parsed.into_iter().map(|object| SourcedObject {
            source: source.clone(),
            object,
        }));
    }
    if objects.is_empty() {
        bail!("no objects passed to apply");
    }
    Ok(objects)
}

/// The namespace an object goes to: its own, else the session's. With an explicit `-n`, a
/// different namespace in the object is kubectl's error.
pub fn object_namespace(object: &Value, session_namespace: &str, explicit: bool) -> Result<String> {
    let own = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    match own {
        Some(ns) if explicit && ns != session_namespace => bail!(
            "the namespace from the provided object \"{ns}\" does not match the namespace \"{session_namespace}\". You must pass '--namespace={ns}' to perform this operation."
        ),
        Some(ns) => Ok(ns.to_string()),
        None => Ok(session_namespace.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn directories_sorted_and_filtered() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["b.yaml", "a.json", "notes.txt", "c.yml"] {
            std::fs::write(dir.path().join(name), "").expect("write");
        }
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        std::fs::write(dir.path().join("sub/d.yaml"), "").expect("write");
        let names = |files: Vec<PathBuf>| -> Vec<String> {
            files
                .iter()
                .map(|p| {
                    p.strip_prefix(dir.path())
                        .expect("inside")
                        .display()
                        .to_string()
                })
                .collect()
        };
        let flat = expand_paths(&[dir.path().to_path_buf()], false).expect("expands");
        assert_eq!(names(flat), ["a.json", "b.yaml", "c.yml"]);
        let deep = expand_paths(&[dir.path().to_path_buf()], true).expect("expands");
        assert_eq!(names(deep), ["a.json", "b.yaml", "c.yml", "sub/d.yaml"]);
        assert!(expand_paths(&[dir.path().join("missing.yaml")], false).is_err());
    }

    #[test]
    fn namespaces_from_objects_and_flags() {
        let object = json!({"metadata": {"name": "x", "namespace": "prod"}});
        assert_eq!(
            object_namespace(&object, "default", false).expect("ok"),
            "prod"
        );
        assert_eq!(object_namespace(&object, "prod", true).expect("ok"), "prod");
        let err = object_namespace(&object, "dev", true).expect_err("mismatch");
        assert!(
            err.to_string()
                .starts_with("the namespace from the provided object \"prod\" does not match")
        );
        assert_eq!(
            object_namespace(&json!({"metadata": {"name": "x"}}), "dev", true).expect("ok"),
            "dev"
        );
    }
}
