//! `--from-literal` and `--from-file` for config maps and secrets.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::Args;

#[derive(Debug, Args)]
pub struct DataSources {
    /// A key and literal value, KEY=VALUE (repeatable).
    #[arg(long)]
    pub from_literal: Vec<String>,
    /// A file ([KEY=]PATH) or a directory of files (repeatable).
    #[arg(long)]
    pub from_file: Vec<String>,
}

/// The entries by key; a key given twice is an error, as in kubectl.
pub fn collect_data(sources: &DataSources) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut data = BTreeMap::new();
    let mut insert = |key: String, value: Vec<u8>| -> Result<()> {
        validate_key(&key)?;
        if data.insert(key.clone(), value).is_some() {
            bail!("cannot add key {key}, another key by that name already exists");
        }
        Ok(())
    };
    for literal in &sources.from_literal {
        let (key, value) = literal
            .split_once('=')
            .with_context(|| format!("invalid literal source {literal}, expected key=value"))?;
        insert(key.to_string(), value.as_bytes().to_vec())?;
    }
    for spec in &sources.from_file {
        let (key, path) = match spec.split_once('=') {
            Some((key, path)) => (Some(key.to_string()), path),
            None => (None, spec.as_str()),
        };
        let path = Path::new(path);
        if path.is_dir() {
            if key.is_some() {
                bail!("cannot give a key name for a directory path");
            }
            let mut entries: Vec<_> = std::fs::read_dir(path)
                .with_context(|| format!("cannot read {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            entries.sort();
            for file in entries {
                let name = file_name(&file)?;
                insert(
                    name,
                    std::fs::read(&file)
                        .with_context(|| format!("cannot read {}", file.display()))?,
                )?;
            }
        } else {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            insert(key.map_or_else(|| file_name(path), Ok)?, bytes)?;
        }
    }
    Ok(data)
}

fn file_name(path: &Path) -> Result<String> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .with_context(|| format!("{} has no usable file name", path.display()))
}

/// Keys of config maps and secrets: alphanumerics, `-`, `_` and `.`.
fn validate_key(key: &str) -> Result<()> {
    let valid = !key.is_empty()
        && key.len() <= 253
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid {
        bail!(
            "\"{key}\" is not a valid key name: a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_and_invalid_keys() {
        let sources = DataSources {
            from_literal: vec!["a=1".into(), "a=2".into()],
            from_file: vec![],
        };
        assert!(collect_data(&sources).is_err());
        let sources = DataSources {
            from_literal: vec!["a b=1".into()],
            from_file: vec![],
        };
        assert!(collect_data(&sources).is_err());
        let sources = DataSources {
            from_literal: vec!["k=v=w".into()],
            from_file: vec![],
        };
        assert_eq!(collect_data(&sources).expect("ok")["k"], b"v=w");
    }
}
