//! Scope probing: every route that names an id (in its path or its body),
//! walked from the OpenAPI document, is called by an administrator and by a
//! technician with one id outside their scope at a time. Each must be
//! refused exactly as the same call naming an id that does not exist, so a
//! probe neither acts nor learns that the object exists.

use std::collections::HashMap;

use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::common::*;

/// What an id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    User,
    Group,
    AdminGroup,
    Channel,
    Session,
    /// An API key (INTEG-3): its owner's, or a master's.
    ApiKey,
    /// A Post-to-URL configuration (masters only).
    PostUrl,
    /// A monitoring request (SESS-10): its administrator's and its
    /// technician's.
    Monitor,
}

/// Where an id goes in a request.
#[derive(Debug, Clone)]
enum Place {
    Path,
    /// A body property; `many` for arrays of ids.
    Body {
        name: String,
        many: bool,
    },
}

#[derive(Debug, Clone)]
struct Slot {
    place: Place,
    kind: Kind,
}

/// The kind of the `{id}` in a path, from the collection it follows. A new
/// collection must be classified here, so no id-taking route escapes.
fn path_kind(template: &str) -> Kind {
    let before = template
        .split("/{id}")
        .next()
        .and_then(|p| p.rsplit('/').next())
        .unwrap();
    match before {
        "users" => Kind::User,
        "tech-groups" => Kind::Group,
        "admin-groups" => Kind::AdminGroup,
        "channels" => Kind::Channel,
        "sessions" => Kind::Session,
        "api-keys" => Kind::ApiKey,
        "post-urls" => Kind::PostUrl,
        "technicians" => Kind::User,
        "monitors" => Kind::Monitor,
        other => panic!("classify the ids of /{other}/{{id}} in scope_probe.rs"),
    }
}

/// The kind of an id-valued body property (None: not an id).
fn body_kind(template: &str, name: &str) -> Option<Kind> {
    let kind = match name {
        "tech_id" => Kind::User,
        "group_id" | "tech_group_id" | "group_ids" => Kind::Group,
        "admin_group_id" => Kind::AdminGroup,
        "parent_id" if template.contains("/admin-groups") => Kind::AdminGroup,
        "parent_id" => Kind::Group,
        "ids" if template.ends_with("/groups") => Kind::Group,
        "ids" if template.ends_with("/exclusions") => Kind::User,
        // The single-sign-on identity is text, not an object of ours.
        "sso_id" => return None,
        n if n == "ids" || n.ends_with("_id") || n.ends_with("_ids") => {
            panic!("classify body property {name} of {template} in scope_probe.rs")
        }
        _ => return None,
    };
    Some(kind)
}

fn body_schema<'a>(doc: &'a Value, op: &'a Value) -> Option<&'a Value> {
    let schema = &op["requestBody"]["content"]["application/json"]["schema"];
    let name = schema["$ref"].as_str()?.rsplit('/').next()?;
    Some(&doc["components"]["schemas"][name])
}

fn slots(doc: &Value, template: &str, op: &Value) -> Vec<Slot> {
    let mut out = Vec::new();
    if template.contains("{id}") {
        out.push(Slot {
            place: Place::Path,
            kind: path_kind(template),
        });
    }
    if let Some(schema) = body_schema(doc, op) {
        for (name, prop) in schema["properties"].as_object().into_iter().flatten() {
            if let Some(kind) = body_kind(template, name) {
                let many = prop["type"] == "array"
                    || prop["type"]
                        .as_array()
                        .is_some_and(|t| t.contains(&json!("array")));
                out.push(Slot {
                    place: Place::Body {
                        name: name.clone(),
                        many,
                    },
                    kind,
                });
            }
        }
    }
    out
}

/// A value for a required property that is not an id.
fn filler(name: &str, n: usize, probing: &str) -> Value {
    match name {
        "name" => json!("Probe"),
        "email" => json!(format!("probe{n}@acme.test")),
        "password" => json!("Initial1%"),
        // An administrator group belongs only to administrators.
        "role" if probing == "admin_group_id" => json!("admin"),
        "role" => json!("technician"),
        "permissions" => json!([]),
        "action" => json!("chat"),
        "fields" => json!({}),
        // A session note's text.
        "body" => json!("Probe"),
        // A technician's answer to a monitoring request.
        "accept" => json!(false),
        other => panic!("no filler for required property {other} in scope_probe.rs"),
    }
}

/// Ids of each kind: inside the caller's scope, outside it, and missing.
struct Ids(HashMap<Kind, String>);

impl Ids {
    fn get(&self, k: Kind) -> &str {
        &self.0[&k]
    }
}

struct Caller {
    label: &'static str,
    token: String,
    inside: Ids,
    /// Outside values to try, per kind.
    outside: HashMap<Kind, Vec<String>>,
}

fn id_value(kind: Kind, raw: &str, many: bool) -> Value {
    let v = match kind {
        Kind::Session => json!(raw),
        _ => json!(raw.parse::<i64>().unwrap()),
    };
    if many { json!([v]) } else { v }
}

/// One operation of the document and its id slots.
struct Route<'a> {
    doc: &'a Value,
    op: &'a Value,
    all: Vec<Slot>,
}

/// Builds the request with slot `probe` set to `value` and every other slot
/// inside the caller's scope (optional body ids are left out).
fn request(
    route: &Route<'_>,
    probe: usize,
    value: &str,
    caller: &Caller,
    n: usize,
) -> (Vec<String>, Option<Value>) {
    let (doc, op, all) = (route.doc, route.op, &route.all);
    let mut params = Vec::new();
    let probing = match &all[probe].place {
        Place::Body { name, .. } => name.as_str(),
        Place::Path => "",
    };
    for (i, s) in all.iter().enumerate() {
        if let Place::Path = s.place {
            params.push(if i == probe {
                value.to_owned()
            } else {
                caller.inside.get(s.kind).to_owned()
            });
        }
    }
    let schema = body_schema(doc, op);
    let body = schema.map(|schema| {
        let required: Vec<&str> = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let mut body = Map::new();
        for (i, s) in all.iter().enumerate() {
            if let Place::Body { name, many } = &s.place {
                if i == probe {
                    body.insert(name.clone(), id_value(s.kind, value, *many));
                } else if required.contains(&name.as_str()) {
                    body.insert(
                        name.clone(),
                        id_value(s.kind, caller.inside.get(s.kind), *many),
                    );
                }
            }
        }
        for r in required {
            if !body.contains_key(r) {
                body.insert(r.to_owned(), filler(r, n, probing));
            }
        }
        Value::Object(body)
    });
    (params, body)
}

async fn scenario(db: &Db) {
    let h = Harness::start(db).await;
    let m = h.master.clone();
    let support = h
        .tech_group(&m, None, "Support", &["chat", "transfer"])
        .await;
    let level2 = h
        .tech_group(&m, Some(support), "Level 2", &["chat", "transfer"])
        .await;
    let sales = h.tech_group(&m, None, "Sales", &["chat", "transfer"]).await;
    let (admin_id, admin) = h.user(&m, "admin", "ada@acme.test", None).await;
    let (s, v) = h
        .call(
            Method::PUT,
            "/api/v1/users/{id}/assignments",
            &[&admin_id.to_string()],
            Some(&m),
            Some(json!({"group_ids": [support]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (t1_id, t1) = h
        .user(&m, "technician", "t1@acme.test", Some(support))
        .await;
    let (t2_id, t2) = h.user(&m, "technician", "t2@acme.test", Some(sales)).await;
    let (s, ag) = h
        .post(
            "/api/v1/admin-groups",
            &[],
            Some(&m),
            json!({"name": "Admins"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{ag}");
    // Channel 1: Support; 2: Sales; 3: shared by both; 4: nobody's.
    for (channel, groups) in [
        ("1", json!([support])),
        ("2", json!([sales])),
        ("3", json!([support, sales])),
    ] {
        let (s, v) = h
            .call(
                Method::PUT,
                "/api/v1/channels/{id}/groups",
                &[channel],
                Some(&m),
                Some(json!({"ids": groups})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    // A session on each, picked up by Support's and Sales' technicians.
    let mut held = Vec::new();
    for (channel, tech) in [("1", &t1), ("2", &t2), ("3", &t2)] {
        let (s, v) = h
            .post(
                "/api/v1/channels/{id}/test",
                &[channel],
                Some(&m),
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let sid = v["id"].as_str().unwrap().to_owned();
        let (s, v) = h
            .post(
                "/api/v1/sessions/{id}/pickup",
                &[&sid],
                Some(tech),
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        held.push(sid);
    }
    let (s_in, s_out, s_shared) = (held[0].clone(), held[1].clone(), held[2].clone());

    // The hole of issue 16: a channel shared with Sales does not open Sales'
    // sessions to Support's administrator.
    let (_, live) = h.get("/api/v1/sessions", &[], &admin).await;
    let live: Vec<&str> = live
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(live, vec![s_in.as_str()], "{}", db.name);

    // An API key each (the master's is outside everyone else's reach) and
    // a Post-to-URL configuration.
    let mut keys = Vec::new();
    for token in [&m, &admin, &t1] {
        let (s, v) = h
            .post(
                "/api/v1/api-keys",
                &[],
                Some(token),
                json!({"name": "probe", "expires_in_days": 1}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        keys.push((
            v["id"].as_i64().unwrap().to_string(),
            v["key"].as_str().unwrap().to_owned(),
        ));
    }
    let (s, v) = h
        .post(
            "/api/v1/post-urls",
            &[],
            Some(&m),
            json!({"name": "p", "url": "http://127.0.0.1:9/", "format": "json",
                   "on_start": false, "on_end": false}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let post_url = v["id"].as_i64().unwrap().to_string();
    // Monitoring (SESS-10): the master watches Sales' technician, out of
    // both callers' reach; the administrator watches its own.
    for group in [support, sales] {
        let (s, v) = h
            .call(
                Method::PUT,
                "/api/v1/tech-groups/{id}/routing",
                &[&group.to_string()],
                Some(&m),
                Some(json!({"monitoring": "tell"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let mut consoles = Vec::new();
    for token in [&t1, &t2] {
        let mut ws = ws_connect(&h.ws_url(&format!("/ws/console?token={token}"))).await;
        ws_expect(&mut ws, "queue").await;
        consoles.push(ws);
    }
    let mut monitors = Vec::new();
    for (token, tech) in [(&m, t2_id), (&admin, t1_id)] {
        let (s, v) = h
            .post(
                "/api/v1/technicians/{id}/monitor",
                &[&tech.to_string()],
                Some(token),
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        monitors.push(v["id"].as_str().unwrap().to_owned());
    }
    let (monitor_out, monitor_in) = (monitors[0].clone(), monitors[1].clone());
    let kinds = |user: i64, group: i64, channel: &str, session: &str, ag: &str, key: &str| {
        Ids(HashMap::from([
            (Kind::User, user.to_string()),
            (Kind::Group, group.to_string()),
            (Kind::AdminGroup, ag.to_owned()),
            (Kind::Channel, channel.to_owned()),
            (Kind::Session, session.to_owned()),
            (Kind::ApiKey, key.to_owned()),
            (Kind::PostUrl, post_url.clone()),
            (Kind::Monitor, monitor_in.clone()),
        ]))
    };
    let ag = ag["id"].as_i64().unwrap().to_string();
    let outside = |sessions: Vec<String>, channels: Vec<&str>| {
        HashMap::from([
            (Kind::User, vec![t2_id.to_string()]),
            (Kind::Group, vec![sales.to_string()]),
            (Kind::AdminGroup, vec![ag.clone()]),
            (
                Kind::Channel,
                channels.into_iter().map(str::to_owned).collect(),
            ),
            (Kind::Session, sessions),
            (Kind::ApiKey, vec![keys[0].0.clone()]),
            (Kind::PostUrl, vec![post_url.clone()]),
            (Kind::Monitor, vec![monitor_out.clone()]),
        ])
    };
    let callers = [
        Caller {
            label: "administrator",
            token: admin.clone(),
            inside: kinds(t1_id, level2, "1", &s_in, &ag, &keys[1].0),
            outside: outside(vec![s_out.clone(), s_shared.clone()], vec!["2", "4"]),
        },
        Caller {
            label: "technician",
            token: t1.clone(),
            inside: kinds(t1_id, level2, "1", &s_in, &ag, &keys[2].0),
            outside: outside(vec![s_out.clone()], vec!["2", "4"]),
        },
    ];
    let missing = Ids({
        let mut m = kinds(999_999, 999_999, "99", &"f".repeat(32), "999999", "999999").0;
        m.insert(Kind::PostUrl, "999999".to_owned());
        m.insert(Kind::Monitor, "e".repeat(32));
        m
    });

    let mut probes = 0;
    let mut routes = std::collections::BTreeSet::new();
    let paths = h.doc["paths"].as_object().unwrap().clone();
    for (template, item) in &paths {
        if template.starts_with("/ws/") {
            continue; // no id in the path; sockets are probed by their own tests
        }
        for (method, op) in item.as_object().unwrap() {
            let public = secours_signaling::api::PUBLIC_ROUTES
                .iter()
                .any(|(pm, pp)| pm == method && pp == template);
            if public {
                continue;
            }
            let route = Route {
                doc: &h.doc,
                op,
                all: slots(&h.doc, template, op),
            };
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            for probe in 0..route.all.len() {
                for caller in &callers {
                    let kind = route.all[probe].kind;
                    for value in &caller.outside[&kind] {
                        probes += 1;
                        let send = |value: String| {
                            let (params, body) = request(&route, probe, &value, caller, probes);
                            let m = m.clone();
                            let h = &h;
                            let token = caller.token.clone();
                            async move {
                                let params: Vec<&str> = params.iter().map(String::as_str).collect();
                                h.call_from("127.0.0.1", m, template, &params, Some(&token), body)
                                    .await
                            }
                        };
                        let (st_out, v_out) = send(value.clone()).await;
                        let (st_missing, v_missing) = send(missing.get(kind).to_owned()).await;
                        let what = format!(
                            "{method} {template} as {} with {:?} = {value} ({})",
                            caller.label, route.all[probe].place, db.name
                        );
                        assert!(
                            st_out == StatusCode::NOT_FOUND || st_out == StatusCode::FORBIDDEN,
                            "{what}: {st_out} {v_out}"
                        );
                        assert_eq!(
                            (st_out, &v_out["code"]),
                            (st_missing, &v_missing["code"]),
                            "{what}: answers unlike a missing id ({v_out} / {v_missing})"
                        );
                        routes.insert(format!("{method} {template}"));
                    }
                }
            }
        }
    }
    for must in [
        "put /api/v1/channels/{id}/groups",
        "post /api/v1/sessions/{id}/transfer",
        "get /api/v1/sessions/{id}",
        "post /api/v1/sessions/{id}/close",
        "patch /api/v1/users/{id}",
        "post /api/v1/users",
        "delete /api/v1/api-keys/{id}",
        "patch /api/v1/post-urls/{id}",
        "get /api/v1/post-urls/{id}/deliveries",
        "post /api/v1/sessions/{id}/notes",
        "get /api/v1/sessions/{id}/history",
        "post /api/v1/sessions/{id}/survey",
        "get /api/v1/monitors/{id}",
        "post /api/v1/monitors/{id}/end",
        "post /api/v1/technicians/{id}/monitor",
    ] {
        assert!(routes.contains(must), "{must} was not probed: {routes:?}");
    }
    assert!(routes.len() >= 20, "only {} routes probed", routes.len());
    // Nothing moved: the sessions are still with their technicians.
    for (sid, tech) in [(&s_in, t1_id), (&s_out, t2_id), (&s_shared, t2_id)] {
        let (_, v) = h.get("/api/v1/sessions/{id}", &[sid], &m).await;
        assert_eq!(
            (v["state"].as_str(), v["tech_id"].as_i64()),
            (Some("active"), Some(tech))
        );
    }
    let (_, c) = h.get("/api/v1/channels", &[], &m).await;
    assert_eq!(c[3]["group_ids"], json!([]), "channel 4 stayed nobody's");
    // The master's API key was not revoked by the probes, nor the
    // configuration changed.
    let (s, _) = h.get("/api/v1/me", &[], &keys[0].1).await;
    assert_eq!(s, StatusCode::OK);
    let (_, p) = h.get("/api/v1/post-urls", &[], &m).await;
    assert_eq!(p[0]["name"], "p");
    // Meanwhile the legitimate path still works: the administrator transfers
    // its own technician's session inside its scope.
    let (s, v) = h
        .post(
            "/api/v1/sessions/{id}/transfer",
            &[&s_in],
            Some(&admin),
            json!({"group_id": level2}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    h.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_id_is_checked_against_the_callers_scope() {
    for db in backends().await {
        scenario(&db).await;
    }
}
