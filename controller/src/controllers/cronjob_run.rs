//! The CronJob controller's runner: writes the plan of [`super::cronjob`] through the API,
//! CronJobs concurrently and each one's steps in order.

use std::sync::Arc;

use futures::StreamExt;
use jiff::tz::TimeZone;
use serde_json::{Value, json};

use super::cronjob::{COMPONENT, CronPlan, job_ref, plan};
use super::events::EventType;
use super::workload::{key_of, resource};
use super::writes::{CreateMessages, benign, create_recorded, delete_benign, replace_status};
use super::{Context, Snapshot};
use crate::apiserver::api_delete::DeleteOptions;
use crate::apiserver::error::ApiError;

/// How many CronJobs one pass works on at the same time.
const PARALLEL: usize = 16;

const JOB_MESSAGES: CreateMessages = CreateMessages {
    created: |name| format!("Created job {name}"),
    failed: |err| format!("Error creating job: {err}"),
};

/// Runs the plan for `snapshot` now, reading schedules without a time zone in the
/// controller's own zone.
pub async fn reconcile(ctx: &Context, snapshot: &Snapshot) -> Result<(), ApiError> {
    let plans = plan(snapshot, jiff::Timestamp::now(), &TimeZone::system());
    let results: Vec<Result<(), ApiError>> = futures::stream::iter(plans)
        .map(|(cj, plan)| run(ctx, cj, plan))
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    results.into_iter().collect()
}

async fn run(ctx: &Context, cj: Arc<Value>, plan: CronPlan) -> Result<(), ApiError> {
    for event in &plan.events {
        ctx.events
            .record(COMPONENT, &cj, event.kind, event.reason, &event.message)
            .await;
    }
    let jobs = resource("batch", "v1", "jobs");
    let background = DeleteOptions {
        propagation_policy: Some("Background".into()),
        ..DeleteOptions::default()
    };
    for job in &plan.replace {
        delete_benign(ctx, jobs, job, &background).await?;
        deleted(ctx, &cj, job).await;
    }
    let mut status = plan.status;
    if let Some(job) = plan.create {
        match create_recorded(ctx, COMPONENT, &cj, jobs, job, &JOB_MESSAGES).await {
            Ok(created) => {
                let status = status.get_or_insert_with(|| json!({}));
                match status.get_mut("active").and_then(Value::as_array_mut) {
                    Some(active) => active.push(job_ref(&created)),
                    None => status["active"] = json!([job_ref(&created)]),
                }
                status["lastScheduleTime"] = json!(plan.scheduled);
            }
            // Created by an earlier pass whose status write was lost: the next pass adopts it.
            Err(err) if err.code() == 409 => {}
            Err(err) => return Err(err),
        }
    }
    if let Some(status) = status {
        let info = resource("batch", "v1", "cronjobs");
        match replace_status(ctx, info, &cj, status, true).await {
            Err(err) if !benign(&err) => return Err(err),
            _ => {}
        }
    }
    for job in &plan.expired {
        delete_benign(ctx, jobs, job, &background).await?;
        deleted(ctx, &cj, job).await;
    }
    Ok(())
}

async fn deleted(ctx: &Context, cj: &Value, job: &Value) {
    let message = format!("Deleted job {}", key_of(job).1);
    ctx.events
        .record(
            COMPONENT,
            cj,
            EventType::Normal,
            "SuccessfulDelete",
            &message,
        )
        .await;
}
