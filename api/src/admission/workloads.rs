//! Validation of workload specs: deployments, replica sets, stateful sets, daemon sets, jobs, cron jobs.

use serde_json::{Value, json};

use super::FieldError;
use super::data::validate_pvc_spec;
use super::pod::{restart_policy, validate_pod_template};
use super::util::{child, get_arr, get_i64, get_str, index};
use crate::selector::LabelSelector;
use crate::validation;

fn non_negative(spec: &Value, key: &str, errs: &mut Vec<FieldError>) {
    if let Some(n) = get_i64(spec, key)
        && n < 0
    {
        errs.push(FieldError::invalid(
            child("spec", key),
            n,
            "must be greater than or equal to 0",
        ));
    }
}

fn render_labels(labels: Option<&Value>) -> String {
    let mut parts: Vec<String> = labels
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}:{}", v.as_str().unwrap_or_default()))
        .collect();
    parts.sort();
    format!("map[{}]", parts.join(" "))
}

/// `spec.selector` must be present and non-empty, and must select the template's labels.
fn validate_selector(spec: &Value, path: &str, required: bool, errs: &mut Vec<FieldError>) {
    let selector = spec.get("selector").filter(|s| !s.is_null());
    let Some(selector) = selector else {
        if required {
            errs.push(FieldError::required(child(path, "selector"), ""));
        }
        return;
    };
    let parsed = match LabelSelector::from_label_selector(selector) {
        Ok(s) => s,
        Err(e) => {
            errs.push(FieldError::invalid(
                child(path, "selector"),
                selector.clone(),
                e.to_string(),
            ));
            return;
        }
    };
    if parsed.is_empty() {
        errs.push(FieldError::invalid(
            child(path, "selector"),
            selector.clone(),
            "empty selector is invalid",
        ));
        return;
    }
    let labels = spec.pointer("/template/metadata/labels");
    if !parsed.matches(labels) {
        errs.push(FieldError::invalid(
            child(path, "template.metadata.labels"),
            render_labels(labels),
            "`selector` does not match template `labels`",
        ));
    }
}

fn require_always_restart(spec: &Value, errs: &mut Vec<FieldError>) {
    let policy = restart_policy(spec.pointer("/template/spec"));
    if policy != "Always" {
        errs.push(FieldError::not_supported(
            "spec.template.spec.restartPolicy",
            policy,
            &["Always"],
        ));
    }
}

fn spec_of<'a>(obj: &'a Value, errs: &mut Vec<FieldError>) -> Option<&'a Value> {
    let spec = obj.get("spec").filter(|s| s.is_object());
    if spec.is_none() {
        errs.push(FieldError::required("spec", ""));
    }
    spec
}

pub(crate) fn validate_deployment(obj: &Value, errs: &mut Vec<FieldError>) {
    let Some(spec) = spec_of(obj, errs) else {
        return;
    };
    for key in ["replicas", "minReadySeconds", "revisionHistoryLimit"] {
        non_negative(spec, key, errs);
    }
    validate_selector(spec, "spec", true, errs);
    validate_pod_template(spec.get("template"), "spec.template", errs);
    require_always_restart(spec, errs);
    if let Some(strategy) = spec.get("strategy") {
        match get_str(strategy, "type") {
            Some("Recreate") => {
                if strategy.get("rollingUpdate").is_some_and(|r| !r.is_null()) {
                    errs.push(FieldError::forbidden(
                        "spec.strategy.rollingUpdate",
                        "may not be specified when strategy `type` is 'Recreate'",
                    ));
                }
            }
            Some("RollingUpdate") | None => {
                if let Some(rolling) = strategy.get("rollingUpdate") {
                    validate_rolling_update(rolling, "spec.strategy.rollingUpdate", errs);
                }
            }
            Some(other) => {
                errs.push(FieldError::not_supported(
                    "spec.strategy.type",
                    other,
                    &["Recreate", "RollingUpdate"],
                ));
            }
        }
    }
    if let Some(deadline) = get_i64(spec, "progressDeadlineSeconds")
        && deadline <= get_i64(spec, "minReadySeconds").unwrap_or(0)
    {
        errs.push(FieldError::invalid(
            "spec.progressDeadlineSeconds",
            deadline,
            "must be greater than minReadySeconds",
        ));
    }
}

/// An int-or-percent value: a non-negative integer or `N%` with N in 0..=100.
fn int_or_percent(v: Option<&Value>, path: &str, errs: &mut Vec<FieldError>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Number(n)) => match n.as_i64() {
            Some(i) if i >= 0 => i == 0,
            _ => {
                errs.push(FieldError::invalid(
                    path,
                    v.cloned().unwrap_or_default(),
                    "must be greater than or equal to 0",
                ));
                false
            }
        },
        Some(Value::String(s)) => match s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) {
            Some(p) if (0..=100).contains(&p) => p == 0,
            Some(_) => {
                errs.push(FieldError::invalid(
                    path,
                    s.as_str(),
                    "must not be greater than 100%",
                ));
                false
            }
            None => {
                errs.push(FieldError::invalid(path, s.as_str(), "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"));
                false
            }
        },
        Some(other) => {
            errs.push(FieldError::invalid(
                path,
                other.clone(),
                "must be an integer or a percentage",
            ));
            false
        }
    }
}

fn validate_rolling_update(rolling: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let unavailable_zero = int_or_percent(
        rolling.get("maxUnavailable"),
        &child(path, "maxUnavailable"),
        errs,
    );
    let surge_zero = int_or_percent(rolling.get("maxSurge"), &child(path, "maxSurge"), errs);
    let both_set = rolling.get("maxUnavailable").is_some_and(|v| !v.is_null())
        && rolling.get("maxSurge").is_some_and(|v| !v.is_null());
    if both_set && unavailable_zero && surge_zero {
        errs.push(FieldError::invalid(
            child(path, "maxUnavailable"),
            rolling.get("maxUnavailable").cloned().unwrap_or_default(),
            "may not be 0 when `maxSurge` is 0",
        ));
    }
}

pub(crate) fn validate_replica_set(obj: &Value, errs: &mut Vec<FieldError>) {
    let Some(spec) = spec_of(obj, errs) else {
        return;
    };
    non_negative(spec, "replicas", errs);
    non_negative(spec, "minReadySeconds", errs);
    validate_selector(spec, "spec", true, errs);
    validate_pod_template(spec.get("template"), "spec.template", errs);
    require_always_restart(spec, errs);
}

pub(crate) fn validate_stateful_set(obj: &Value, errs: &mut Vec<FieldError>) {
    let Some(spec) = spec_of(obj, errs) else {
        return;
    };
    non_negative(spec, "replicas", errs);
    non_negative(spec, "minReadySeconds", errs);
    non_negative(spec, "revisionHistoryLimit", errs);
    validate_selector(spec, "spec", true, errs);
    let claims = validate_claim_templates(spec, errs);
    validate_pod_template(
        with_claim_volumes(spec.get("template"), &claims).as_ref(),
        "spec.template",
        errs,
    );
    require_always_restart(spec, errs);
    validate_stateful_policies(spec, errs);
    if let Some(p) = get_str(spec, "podManagementPolicy")
        && !["OrderedReady", "Parallel"].contains(&p)
    {
        errs.push(FieldError::not_supported(
            "spec.podManagementPolicy",
            p,
            &["OrderedReady", "Parallel"],
        ));
    }
    if let Some(t) = spec.get("updateStrategy").and_then(|s| get_str(s, "type"))
        && !["RollingUpdate", "OnDelete"].contains(&t)
    {
        errs.push(FieldError::not_supported(
            "spec.updateStrategy.type",
            t,
            &["OnDelete", "RollingUpdate"],
        ));
    }
}

/// Validates `volumeClaimTemplates` (each a claim with a unique DNS-label name); returns
/// their names.
fn validate_claim_templates<'a>(spec: &'a Value, errs: &mut Vec<FieldError>) -> Vec<&'a str> {
    let mut names = Vec::new();
    for (i, claim) in get_arr(spec, "volumeClaimTemplates").iter().enumerate() {
        let path = index("spec.volumeClaimTemplates", i);
        let name = claim
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if name.is_empty() {
            errs.push(FieldError::required(child(&path, "metadata.name"), ""));
        } else if names.contains(&name) {
            errs.push(FieldError::duplicate(child(&path, "metadata.name"), name));
        } else {
            for msg in validation::dns1123_label(name) {
                errs.push(FieldError::invalid(
                    child(&path, "metadata.name"),
                    name,
                    msg,
                ));
            }
            names.push(name);
        }
        validate_pvc_spec(claim.get("spec"), &child(&path, "spec"), errs);
    }
    names
}

/// The template as the set's pods get it: each claim template is a volume (replacing a
/// template volume of the same name), so that containers may mount it.
fn with_claim_volumes(template: Option<&Value>, claims: &[&str]) -> Option<Value> {
    let mut template = template?.clone();
    if claims.is_empty() {
        return Some(template);
    }
    let Some(spec) = template.get_mut("spec").and_then(Value::as_object_mut) else {
        return Some(template);
    };
    let mut volumes: Vec<Value> = claims
        .iter()
        .map(|c| json!({"name": c, "persistentVolumeClaim": {"claimName": c}}))
        .collect();
    if let Some(Value::Array(existing)) = spec.get("volumes") {
        volumes.extend(
            existing
                .iter()
                .filter(|v| !claims.contains(&get_str(v, "name").unwrap_or_default()))
                .cloned(),
        );
    }
    spec.insert("volumes".into(), Value::Array(volumes));
    Some(template)
}

/// The rolling update's partition and budget, the claim retention policy and the ordinals.
fn validate_stateful_policies(spec: &Value, errs: &mut Vec<FieldError>) {
    const ROLLING: &str = "spec.updateStrategy.rollingUpdate";
    if let Some(rolling) = spec.pointer("/updateStrategy/rollingUpdate") {
        if let Some(n) = get_i64(rolling, "partition")
            && n < 0
        {
            errs.push(FieldError::invalid(
                child(ROLLING, "partition"),
                n,
                "must be greater than or equal to 0",
            ));
        }
        let path = child(ROLLING, "maxUnavailable");
        let budget = rolling.get("maxUnavailable").filter(|v| !v.is_null());
        if budget.is_some() && int_or_percent(budget, &path, errs) {
            errs.push(FieldError::invalid(
                path,
                rolling.get("maxUnavailable").cloned().unwrap_or_default(),
                "must be greater than 0",
            ));
        }
    }
    const RETENTION: &str = "spec.persistentVolumeClaimRetentionPolicy";
    if let Some(policy) = spec.get("persistentVolumeClaimRetentionPolicy") {
        for key in ["whenDeleted", "whenScaled"] {
            if let Some(v) = get_str(policy, key)
                && !["Retain", "Delete"].contains(&v)
            {
                errs.push(FieldError::not_supported(
                    child(RETENTION, key),
                    v,
                    &["Delete", "Retain"],
                ));
            }
        }
    }
    if let Some(n) = spec.pointer("/ordinals/start").and_then(Value::as_i64)
        && n < 0
    {
        errs.push(FieldError::invalid(
            "spec.ordinals.start",
            n,
            "must be greater than or equal to 0",
        ));
    }
}

pub(crate) fn validate_daemon_set(obj: &Value, errs: &mut Vec<FieldError>) {
    let Some(spec) = spec_of(obj, errs) else {
        return;
    };
    non_negative(spec, "minReadySeconds", errs);
    non_negative(spec, "revisionHistoryLimit", errs);
    validate_selector(spec, "spec", true, errs);
    validate_pod_template(spec.get("template"), "spec.template", errs);
    require_always_restart(spec, errs);
    if let Some(strategy) = spec.get("updateStrategy") {
        match get_str(strategy, "type") {
            Some("RollingUpdate") | None => {
                if let Some(rolling) = strategy.get("rollingUpdate") {
                    validate_rolling_update(rolling, "spec.updateStrategy.rollingUpdate", errs);
                }
            }
            Some("OnDelete") => {}
            Some(other) => {
                errs.push(FieldError::not_supported(
                    "spec.updateStrategy.type",
                    other,
                    &["OnDelete", "RollingUpdate"],
                ));
            }
        }
    }
}

/// Validates a job spec at `path` (`spec` or `spec.jobTemplate.spec`).
fn validate_job_spec(spec: &Value, path: &str, errs: &mut Vec<FieldError>) {
    for key in ["parallelism", "completions", "backoffLimit"] {
        if let Some(n) = get_i64(spec, key)
            && n < 0
        {
            errs.push(FieldError::invalid(
                child(path, key),
                n,
                "must be greater than or equal to 0",
            ));
        }
    }
    if let Some(n) = get_i64(spec, "activeDeadlineSeconds")
        && n <= 0
    {
        errs.push(FieldError::invalid(
            child(path, "activeDeadlineSeconds"),
            n,
            "must be greater than 0",
        ));
    }
    if let Some(mode) = get_str(spec, "completionMode")
        && !["NonIndexed", "Indexed"].contains(&mode)
    {
        errs.push(FieldError::not_supported(
            child(path, "completionMode"),
            mode,
            &["NonIndexed", "Indexed"],
        ));
    }
    if get_str(spec, "completionMode") == Some("Indexed") && get_i64(spec, "completions").is_none()
    {
        errs.push(FieldError::required(
            child(path, "completions"),
            "when completion mode is Indexed",
        ));
    }
    // A generated selector needs the uid, which may not be assigned yet; a manual one is required.
    let manual = spec.get("manualSelector").and_then(Value::as_bool) == Some(true);
    validate_selector(spec, path, manual, errs);
    let template_path = child(path, "template");
    validate_pod_template(spec.get("template"), &template_path, errs);
    let policy = restart_policy(spec.pointer("/template/spec"));
    if !["OnFailure", "Never"].contains(&policy) {
        errs.push(FieldError::not_supported(
            child(&template_path, "spec.restartPolicy"),
            policy,
            &["OnFailure", "Never"],
        ));
    }
}

pub(crate) fn validate_job(obj: &Value, errs: &mut Vec<FieldError>) {
    if let Some(spec) = spec_of(obj, errs) {
        validate_job_spec(spec, "spec", errs);
    }
}

/// Longest cron job name, so the names of its jobs (name plus 11 characters) stay valid labels.
const CRON_JOB_NAME_MAX: usize = 52;

pub(crate) fn validate_cron_job(obj: &Value, errs: &mut Vec<FieldError>) {
    if let Some(name) = obj.pointer("/metadata/name").and_then(Value::as_str)
        && name.len() > CRON_JOB_NAME_MAX
    {
        errs.push(FieldError::invalid(
            "metadata.name",
            name,
            format!("must be no more than {CRON_JOB_NAME_MAX} characters"),
        ));
    }
    let Some(spec) = spec_of(obj, errs) else {
        return;
    };
    match get_str(spec, "schedule") {
        None | Some("") => errs.push(FieldError::required("spec.schedule", "")),
        Some(schedule) => {
            if let Err(msg) = check_cron_schedule(schedule) {
                errs.push(FieldError::invalid("spec.schedule", schedule, msg));
            }
            if schedule.contains("TZ") && spec.get("timeZone").is_some_and(|z| !z.is_null()) {
                errs.push(FieldError::invalid(
                    "spec.schedule",
                    schedule,
                    "cannot use both timeZone field and TZ or CRON_TZ in schedule",
                ));
            }
        }
    }
    validate_time_zone(spec, errs);
    if let Some(p) = get_str(spec, "concurrencyPolicy")
        && !["Allow", "Forbid", "Replace"].contains(&p)
    {
        errs.push(FieldError::not_supported(
            "spec.concurrencyPolicy",
            p,
            &["Allow", "Forbid", "Replace"],
        ));
    }
    for key in [
        "successfulJobsHistoryLimit",
        "failedJobsHistoryLimit",
        "startingDeadlineSeconds",
    ] {
        non_negative(spec, key, errs);
    }
    match spec.pointer("/jobTemplate/spec").filter(|s| s.is_object()) {
        Some(job_spec) => validate_job_spec(job_spec, "spec.jobTemplate.spec", errs),
        None => errs.push(FieldError::required("spec.jobTemplate.spec", "")),
    }
}

/// Checks a cron schedule as the CronJob controller will read it (robfig/cron's standard
/// parser: five fields or a `@hourly`-style macro, optionally after `TZ=`).
pub(crate) fn check_cron_schedule(schedule: &str) -> Result<(), String> {
    crate::cron::Schedule::parse(schedule)
        .map(|_| ())
        .map_err(|err| err.to_string())
}

/// `spec.timeZone`: unset, or an IANA name the time zone database knows.
fn validate_time_zone(spec: &Value, errs: &mut Vec<FieldError>) {
    let Some(zone) = spec.get("timeZone").filter(|z| !z.is_null()) else {
        return;
    };
    let name = zone.as_str().unwrap_or_default();
    let message = if name.is_empty() {
        "timeZone must be nil or non-empty string".to_owned()
    } else if name.eq_ignore_ascii_case("Local") {
        "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"
            .to_owned()
    } else {
        match crate::cron::time_zone(name) {
            Ok(_) => return,
            Err(err) => err.to_string(),
        }
    };
    errs.push(FieldError::invalid("spec.timeZone", zone.clone(), message));
}
