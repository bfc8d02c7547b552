//! `edit`: the object as YAML in `$KUBE_EDITOR`/`$EDITOR`/`vi`, then a PUT guarded by `resourceVersion`.

use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::Value;

use super::Session;
use super::get::{parse_resource_args, resolve_requests};
use crate::client::RequestError;
use crate::output;

const HEADER: &str = "# Please edit the object below. Lines beginning with a '#' will be ignored,\n\
# and an empty file will abort the edit. If an error occurs while saving, a copy of your\n\
# changes is kept and its location printed.\n#\n";

#[derive(Debug, Args)]
pub struct EditArgs {
    /// TYPE NAME or TYPE/NAME.
    #[arg(required = true)]
    pub resources: Vec<String>,
}

/// What came back from the editor.
#[derive(Debug, PartialEq)]
pub enum Edited {
    /// Nothing but comments and blank lines.
    Empty,
    Unchanged,
    Changed(Value),
}

/// Compares the edited text with the original object; comment lines are ignored.
pub fn interpret(original: &Value, text: &str) -> Result<Edited> {
    let body: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    if body.trim().is_empty() {
        return Ok(Edited::Empty);
    }
    let edited: Value =
        serde_yaml_ng::from_str(&body).context("the edited file is not valid YAML")?;
    if !edited.is_object() {
        bail!("the edited file must contain one object");
    }
    Ok(if &edited == original {
        Edited::Unchanged
    } else {
        Edited::Changed(edited)
    })
}

/// `$KUBE_EDITOR`, else `$EDITOR`, else `vi`.
pub fn editor() -> String {
    ["KUBE_EDITOR", "EDITOR"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|e| !e.trim().is_empty())
        .unwrap_or_else(|| "vi".to_string())
}

fn run_editor(path: &Path) -> Result<()> {
    let editor = editor();
    // Through the shell, so editors given with arguments (`code --wait`) work as in kubectl.
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("edgectl-edit")
        .arg(path)
        .status()
        .with_context(|| format!("cannot start the editor {editor:?}"))?;
    if !status.success() {
        bail!("the editor {editor:?} exited with {status}");
    }
    Ok(())
}

pub async fn run(session: &mut Session, args: EditArgs) -> Result<()> {
    let requests = parse_resource_args(&args.resources)?;
    let targets = resolve_requests(session, &requests).await?;
    let [(resource, names)] = targets.as_slice() else {
        bail!("edit works on one object at a time")
    };
    let [name] = names.as_slice() else {
        bail!("edit works on one object at a time: give TYPE NAME")
    };
    let path = resource.path(Some(session.namespace()), Some(name));
    let original = session.client.get(&path).await?;

    let file = tempfile::Builder::new()
        .prefix("edgectl-edit-")
        .suffix(".yaml")
        .tempfile()
        .context("cannot create a temporary file")?;
    let text = format!("{HEADER}{}", output::to_yaml(&original)?);
    std::fs::write(file.path(), text).context("cannot write the temporary file")?;
    run_editor(file.path())?;
    let edited_text =
        std::fs::read_to_string(file.path()).context("cannot read the edited file")?;

    let edited = match interpret(&original, &edited_text) {
        Ok(Edited::Empty) => {
            eprintln!("Edit cancelled, saved file was empty.");
            return Ok(());
        }
        Ok(Edited::Unchanged) => {
            eprintln!("Edit cancelled, no changes made.");
            return Ok(());
        }
        Ok(Edited::Changed(edited)) => edited,
        Err(err) => return Err(keep(file, err)),
    };
    if edited.pointer("/metadata/name") != original.pointer("/metadata/name") {
        return Err(keep(
            file,
            anyhow::anyhow!("the name of the object cannot be changed"),
        ));
    }
    match session.client.replace(&path, &edited).await {
        Ok(_) => output::println(&format!("{} edited", resource.object_ref(name))),
        Err(err @ RequestError::Api(_)) => Err(keep(file, err.into())),
        Err(err) => Err(err.into()),
    }
}

/// Keeps the edited file and says where it is, as kubectl does after a failed save.
fn keep(file: tempfile::NamedTempFile, err: anyhow::Error) -> anyhow::Error {
    match file.keep() {
        Ok((_, path)) => {
            eprintln!("{}", super::error_line(&err));
            eprintln!(
                "A copy of your changes has been stored to \"{}\"",
                path.display()
            );
            super::AlreadyReported.into()
        }
        Err(_) => err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn edits_are_classified() {
        let original = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
        let yaml = format!("{HEADER}{}", output::to_yaml(&original).expect("yaml"));
        assert_eq!(interpret(&original, &yaml).expect("ok"), Edited::Unchanged);
        assert_eq!(
            interpret(&original, "# only comments\n\n").expect("ok"),
            Edited::Empty
        );
        let changed = yaml.replace("a: '1'", "a: '2'");
        assert_ne!(changed, yaml, "the YAML quotes the string value");
        let Edited::Changed(edited) = interpret(&original, &changed).expect("ok") else {
            panic!("expected a change")
        };
        assert_eq!(edited["data"]["a"], "2");
        assert!(interpret(&original, "data: [unclosed").is_err());
    }
}
