//! The JSON management API under `/api/v1/`: projects, users, members, robot accounts, CI
//! push tokens, the audit log and key rotation; project policies (tag policy, quota, budget),
//! promotion and usage. Requests authenticate with Basic credentials of a user; every handler
//! calls one `Access` or `Lifecycle` method, the same the CLI calls.

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::{AppState, Shared, auth};
use crate::auth::{
    Action, Actor, AuditEntry, AuditFilter, Error, Login, Robot, RobotSpec, Role, parse_ttl,
};
use crate::lifecycle::{Change, ProjectSettings, SettingsChange};

type ApiResult<T = Response> = Result<T, ApiError>;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/projects", get(projects).post(create_project))
        .route("/projects/{project}", patch(update_project))
        .route("/projects/{project}/members", get(members))
        .route(
            "/projects/{project}/members/{user}",
            put(set_member).delete(remove_member),
        )
        .route("/projects/{project}/robots", get(robots).post(create_robot))
        .route("/robots/{name}", patch(update_robot).delete(delete_robot))
        .route("/tokens", post(create_token))
        .route("/tokens/{name}", delete(delete_robot))
        .route("/users", get(users).post(create_user))
        .route("/users/{name}", patch(update_user))
        .route("/audit", get(audit))
        .route("/keys/rotate", post(rotate_keys))
        .route(
            "/projects/{project}/policy",
            get(project_policy).patch(update_project_policy),
        )
        .route("/projects/{project}/retention/plan", get(retention_plan))
        .route("/projects/{project}/retention/run", post(retention_run))
        .route("/promote", post(promote))
        .route("/usage", get(usage))
        .fallback(no_endpoint)
        .method_not_allowed_fallback(method_not_allowed)
}

/// axum's `Json` body whose rejection is a JSON error, not text/plain.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
struct JsonBody<T>(T);

/// axum's `Query` whose rejection is a JSON error.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
struct QueryParams<T>(T);

/// axum's `Path` whose rejection is a JSON error.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
struct Path<T>(T);

async fn no_endpoint() -> ApiError {
    ApiError::NotFound
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// A JSON field that takes one string or a list of them: `"pull,push"` or `["pull", "push"]`.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    /// The values, comma-separated, as the CLI takes them.
    fn joined(self) -> String {
        match self {
            OneOrMany::One(text) => text,
            OneOrMany::Many(list) => list.join(","),
        }
    }
}

/// The authenticated user behind a management request (Basic credentials).
struct ApiActor(Actor);

impl FromRequestParts<Arc<AppState>> for ApiActor {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let address = auth::client_address(state, parts);
        let Some((user, password)) = auth::basic(&parts.headers) else {
            return Err(auth::login_refused(Error::Unauthenticated));
        };
        match state
            .access
            .login(&user, &password, address, Login::Request)
            .await
        {
            Ok(subject) => Ok(ApiActor(Actor { subject, address })),
            Err(e) => Err(auth::login_refused(e)),
        }
    }
}

fn done() -> ApiResult {
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewProject {
    name: String,
    #[serde(default)]
    public: bool,
}

async fn projects(State(state): Shared, ApiActor(actor): ApiActor) -> ApiResult<Json<Value>> {
    let projects = state.access.projects(&actor).await?;
    let list: Vec<Value> = projects
        .iter()
        .map(|p| json!({"name": p.name, "public": p.public}))
        .collect();
    Ok(Json(json!(list)))
}

async fn create_project(
    State(state): Shared,
    ApiActor(actor): ApiActor,
    JsonBody(body): JsonBody<NewProject>,
) -> ApiResult {
    let project = state
        .access
        .create_project(&actor, &body.name, body.public)
        .await?;
    let body = json!({"name": project.name, "public": project.public});
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectUpdate {
    public: bool,
}

async fn update_project(
    State(state): Shared,
    ApiActor(actor): ApiActor,
    Path(project): Path<String>,
    JsonBody(body): JsonBody<ProjectUpdate>,
) -> ApiResult {
    state
        .access
        .set_project_public(&actor, &project, body.public)
        .await?;
    done()
}

async fn members(
    State(state): Shared,
    ApiActor(actor): ApiActor,
    Path(project): Path<String>,
) -> ApiResult<Json<Value>> {
    let members = state.access.members(&actor, &project).await?;
    let list: Vec<Value> = members
        .iter()
        .map(|(user, role)| json!({"user": user, "role": role.as_str()}))
        .collect();
    Ok(Json(json!(list)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Membership {
    role: String,
}

async fn set_member(
    State(state): Shared,
    ApiActor(actor): ApiActor,
    Path((project, user)): Path<(String, String)>,
    JsonBody(body): JsonBody<Membership>,
) -> ApiResult {
    let role: Role = body.role.parse().map_err(crate::auth::Error::from)?;
    state
        .access
        .set_member(&actor, &project, &user, role)
        .await?;
    Ok(Json(json!({"user": user, "role": role.as_str()})).into_response())
}

async fn remove_member(
    State(state): Shared,
    ApiActor(actor): ApiActor,
    Path((project, user)): Path<(String, String)>,
) -> ApiResult {
    state.access.remove_member(&actor, &project, &user).await?;
    done()
}

fn robot_json(robot: &Robot) -> Value {
    json!({
        "name": robot.name,
        "kind": robot.kind.as_str(),
        "project": robot.project,
        "repositories": robot.pattern.split(',').collect::<Vec<_>>(),
        "actions": robot.actions.iter().map(Action::as_str).collect::<Vec<_>>(),
        "expires_at": robot.expires_at,
        "disabled": robot.disabled,
        "created_by": robot.created_by,
    })
}

/// A created robot or CI token, with its secret: 201 and the object.
fn created_credential(created: &crate::auth::NewCredential) -> Response {
    let mut body = robot_json(&created.robot);
    body["secret"] = json!(created.secret);
    (StatusCode::CREATED, Json(body)).into_response()
}

async fn robots(
    State(state): Shared,
    ApiActor(actor): ApiActor,
    Path(project): Path<String>,
) -> ApiResult<Json<Value>> {
    let robots = state.access.robots(&actor, &project).await?;
    Ok(Json(json!(
        robots.iter().map(robot_json).collect::<Vec<_>>()
    )))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRobot {
    name: String,
    /// `pull`, `push`, `delete`: a list, or one comma-separated string.
    actions: OneOrMany,
    /// Repositories or patterns inside the project; every repository when absent.
    repositories: Option<OneOrMany>,
    /// `30d`, `12h`, `15m`, `90s`; 30 days when absent, as on the command line.
    #[serde(default = "default_robot_ttl")]
    ttl: String,
}

fn default_robot_ttl() -> String {
    "30d".to_owned()
}

async fn create_robot(
    State(state): Shared,
    ApiActor(actor): ApiActor,
    Path(project): Path<String>,
    JsonBody(body): JsonBody<NewRobot>,
) -> ApiResult {
    let spec = RobotSpec {
        pattern: body
            .repositories
            .map_or_else(|| format!("{project}/*"), OneOrMany::joined),
        project,
        name: body.name,
        actions: body
            .actions
            .joined()
            .parse()
            .map_err(crate::auth::Error::from)?,
        ttl: parse_ttl(&body.ttl)?,
    };
    let created = state.access.create_robot(&actor, &spec).await?;
    Ok(created_credential(&created))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RobotUpdate {
    disabled: bool,
}

async fn update_robot(
    State(state): Shared,
    ApiActor(actor): ApiActor,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<RobotUpdate>,
) -> ApiResult {
    state
        .access
        .set_robot_disabled(&actor, &name, body.disabled)
        .await?;
    done()
}

/// `DELETE /robots/<name>` deletes a robot; `DELETE /tokens/<name>` revokes a CI token.
async fn delete_robot(
    State(state): Shared,
    ApiActor(actor): ApiActor,
    Path(name): Path<String>,
) -> ApiResult {
    state.access.delete_robot(&actor, &name).await?;
    done()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    /// One repository, or a pattern inside one project (`team/app-*`).
    repository: String,
    /// Must be true: CI tokens push (and read what a push reads).
    push: bool,
    #[serde(default = "default_ci_ttl")]
    ttl: String,
}

fn default_ci_ttl() -> String {
    "15m".to_owned()
}

async fn create_token(
    State(state): Shared,
    ApiActor(actor): ApiActor,
    JsonBody(body): JsonBody<NewToken>,
) -> ApiResult {
    if !body.push {
        return Err(Error::Invalid("CI tokens are push tokens: set \"push\": true".into()).into());
    }
    let ttl = parse_ttl(&body.ttl)?;
    let created = state
        .access
        .create_ci_token(&actor, &body.repository, ttl)
        .await?;
    Ok(created_credential(&created))
}

async fn users(State(state): Shared, ApiActor(actor): ApiActor) -> ApiResult<Json<Value>> {
    let users = state.access.users(&actor).await?;
    let list: Vec<Value> = users
        .iter()
        .map(|u| json!({"name": u.name, "admin": u.admin, "disabled": u.disabled}))
        .collect();
    Ok(Json(json!(list)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    name: String,
    password: String,
    #[serde(default)]
    admin: bool,
}

async fn create_user(
    State(state): Shared,
    ApiActor(actor): ApiActor,
    JsonBody(body): JsonBody<NewUser>,
) -> ApiResult {
    state
        .access
        .create_user(&actor, &body.name, &body.password, body.admin)
        .await?;
    let body = json!({"name": body.name, "admin": body.admin, "disabled": false});
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserUpdate {
    password: Option<String>,
    admin: Option<bool>,
    disabled: Option<bool>,
}

async fn update_user(
    State(state): Shared,
    ApiActor(actor): ApiActor,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<UserUpdate>,
) -> ApiResult {
    state
        .access
        .update_user(
            &actor,
            &name,
            body.password.as_deref(),
            body.admin,
            body.disabled,
        )
        .await?;
    done()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    project: Option<String>,
    user: Option<String>,
    action: Option<String>,
    /// Inclusive: RFC 3339, a duration ago (`24h`) or Unix milliseconds.
    since: Option<String>,
    /// Exclusive, in the same forms.
    until: Option<String>,
    /// Entries with ids below this one (the `next` of the previous page).
    before: Option<i64>,
    limit: Option<u32>,
}

/// `GET /audit?project=&user=&action=&since=&until=&limit=&before=`: newest first; `next` (and a
/// `Link` header) give the `before` of the following page.
async fn audit(
    State(state): Shared,
    ApiActor(actor): ApiActor,
    QueryParams(query): QueryParams<AuditQuery>,
) -> ApiResult {
    let filter = AuditFilter {
        project: query.project,
        actor: query.user,
        action: query.action,
        since: query.since.as_deref().map(instant).transpose()?,
        until: query.until.as_deref().map(instant).transpose()?,
        before: query.before,
        limit: query.limit.unwrap_or(100),
    };
    let page = state.access.audit_log(&actor, &filter).await?;
    let next = page.next;
    let body = json!({
        "entries": page.entries.iter().map(audit_json).collect::<Vec<_>>(),
        "next": next,
    });
    let mut response = Json(body).into_response();
    if let Some(next) = next {
        let link = format!("</api/v1/audit?before={next}>; rel=\"next\"");
        if let Ok(value) = HeaderValue::try_from(link) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    Ok(response)
}

fn instant(text: &str) -> Result<i64, ApiError> {
    crate::time::parse_instant(text).map_err(|e| ApiError::Auth(Error::Invalid(e)))
}

fn audit_json(entry: &AuditEntry) -> Value {
    json!({
        "id": entry.id,
        "at": entry.at,
        "actor": entry.actor,
        "action": entry.action,
        "project": entry.project,
        "repository": entry.repository,
        "digest": entry.digest,
        "detail": entry.detail,
        "address": entry.address,
    })
}

async fn rotate_keys(State(state): Shared, ApiActor(actor): ApiActor) -> ApiResult<Json<Value>> {
    let kid = state.access.rotate_keys(&actor).await?;
    Ok(Json(json!({"kid": kid})))
}

fn policy_json(settings: &ProjectSettings) -> Json<Value> {
    Json(json!({
        "immutable_releases": settings.immutable_releases,
        "follow_aliases": settings.follow_aliases,
        "latest_on_push": settings.latest_on_push,
        "quota_bytes": settings.quota_bytes,
        "budget_bytes": settings.budget_bytes,
        "budget_warn_only": settings.budget_warn_only,
        "retention": settings.retention,
        "retention_schedule": settings.retention_schedule,
    }))
}

/// `GET /api/v1/projects/{project}/policy`: the tag policy, quota and size budget.
async fn project_policy(
    State(state): Shared,
    ApiActor(actor): ApiActor,
    Path(project): Path<String>,
) -> ApiResult<Json<Value>> {
    let settings = state.lifecycle.project_settings(&actor, &project).await?;
    Ok(policy_json(&settings))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyUpdate {
    immutable_releases: Option<bool>,
    follow_aliases: Option<bool>,
    latest_on_push: Option<bool>,
    #[serde(default)]
    quota_bytes: Change<u64>,
    #[serde(default)]
    budget_bytes: Change<u64>,
    budget_warn_only: Option<bool>,
    /// Retention rules, one per line.
    retention: Option<String>,
    #[serde(default)]
    retention_schedule: Change<String>,
}

/// `PATCH /api/v1/projects/{project}/policy` with the fields to change (project admins).
async fn update_project_policy(
    State(state): Shared,
    ApiActor(actor): ApiActor,
    Path(project): Path<String>,
    JsonBody(body): JsonBody<PolicyUpdate>,
) -> ApiResult<Json<Value>> {
    let change = SettingsChange {
        immutable_releases: body.immutable_releases,
        follow_aliases: body.follow_aliases,
        latest_on_push: body.latest_on_push,
        quota_bytes: body.quota_bytes,
        budget_bytes: body.budget_bytes,
        budget_warn_only: body.budget_warn_only,
        retention: body.retention,
        retention_schedule: body.retention_schedule,
    };
    let updated = state
        .lifecycle
        .update_project_settings(&actor, &project, &change)
        .await?;
    let Json(mut body) = policy_json(&updated.value);
    body["warnings"] = json!(updated.warnings);
    Ok(Json(body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Promotion {
    repository: String,
    tag: String,
}

/// `POST /api/v1/promote` with `{"repository","tag"}`: points `latest` at the tag's manifest
/// (maintainers); answers with where `latest` pointed before and now.
async fn promote(
    State(state): Shared,
    ApiActor(actor): ApiActor,
    JsonBody(body): JsonBody<Promotion>,
) -> ApiResult<Json<Value>> {
    let promoted = state
        .lifecycle
        .promote(&actor, &body.repository, &body.tag)
        .await?;
    let moved = &promoted.value;
    Ok(Json(json!({
        "tag": moved.tag,
        "from": moved.from.as_ref().map(ToString::to_string),
        "to": moved.to.to_string(),
        "warnings": promoted.warnings,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsageQuery {
    project: Option<String>,
}

/// `GET /api/v1/usage[?project=]`: bytes of distinct blobs per project and per repository.
async fn usage(
    State(state): Shared,
    ApiActor(actor): ApiActor,
    QueryParams(query): QueryParams<UsageQuery>,
) -> ApiResult<Json<Value>> {
    let usage = state
        .lifecycle
        .usage(&actor, query.project.as_deref())
        .await?;
    let projects: Vec<Value> = usage
        .projects
        .iter()
        .map(|p| json!({"name": p.name, "bytes": p.bytes, "quota_bytes": p.quota}))
        .collect();
    let repositories: Vec<Value> = usage
        .repositories
        .iter()
        .map(|r| {
            json!({"name": r.repository, "bytes": r.bytes, "manifests": r.manifests,
                   "tags": r.tags})
        })
        .collect();
    Ok(Json(
        json!({"projects": projects, "repositories": repositories}),
    ))
}

fn decisions_json(decisions: &[crate::lifecycle::retention::Decision]) -> Json<Value> {
    let list: Vec<Value> = decisions
        .iter()
        .map(|d| {
            json!({"repository": d.repository, "tag": d.tag, "digest": d.digest.to_string(),
                   "freed": d.freed, "last_pull": d.last_pull, "rule": d.rule,
                   "archive": d.archive,
                   "moves_to": d.moves_to.as_ref().map(ToString::to_string)})
        })
        .collect();
    Json(json!(list))
}

/// `GET /api/v1/projects/{project}/retention/plan`: what a run would delete now.
async fn retention_plan(
    State(state): Shared,
    ApiActor(actor): ApiActor,
    Path(project): Path<String>,
) -> ApiResult<Json<Value>> {
    let plan = state.lifecycle.retention_plan(&actor, &project).await?;
    Ok(decisions_json(&plan))
}

/// `POST /api/v1/projects/{project}/retention/run`: applies the plan; answers with the steps
/// applied.
async fn retention_run(
    State(state): Shared,
    ApiActor(actor): ApiActor,
    Path(project): Path<String>,
) -> ApiResult<Json<Value>> {
    let applied = state.lifecycle.retention_run(&actor, &project).await?;
    Ok(decisions_json(&applied))
}
