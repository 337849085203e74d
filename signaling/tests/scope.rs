//! ORG-3/ORG-5 scope: an administrator reaches its assigned technician
//! groups and their sub-groups, nothing else; technicians reach no admin route.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn scenario(db: &Db) {
    let h = Harness::start(db).await;
    let m = h.master.clone();
    let support = h.tech_group(&m, None, "Support", &["chat"]).await;
    let level2 = h.tech_group(&m, Some(support), "Level 2", &["chat"]).await;
    let sales = h.tech_group(&m, None, "Sales", &["chat"]).await;
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

    // Sees its group and the sub-group, not Sales.
    let (_, groups) = h.get("/api/v1/tech-groups", &[], &admin).await;
    let ids: Vec<i64> = groups
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![support, level2], "{db_name}", db_name = db.name);
    let (s, _) = h
        .get("/api/v1/tech-groups/{id}", &[&sales.to_string()], &admin)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = h
        .call(
            Method::PATCH,
            "/api/v1/tech-groups/{id}",
            &[&sales.to_string()],
            Some(&admin),
            Some(json!({"name": "Mine now"})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = h
        .call(
            Method::PUT,
            "/api/v1/tech-groups/{id}/settings",
            &[&sales.to_string()],
            Some(&admin),
            Some(json!({"permissions": ["remote_control"]})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // May rename and create inside its scope, not at the top or under Sales.
    let (s, _) = h
        .call(
            Method::PATCH,
            "/api/v1/tech-groups/{id}",
            &[&level2.to_string()],
            Some(&admin),
            Some(json!({"name": "Level Two"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = h
        .post(
            "/api/v1/tech-groups",
            &[],
            Some(&admin),
            json!({"parent_id": level2, "name": "L3"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let l3 = v["id"].as_i64().unwrap();
    assert_eq!(
        v["permissions"],
        json!(["chat"]),
        "a new group starts with its parent's settings"
    );
    let (s, _) = h
        .post(
            "/api/v1/tech-groups",
            &[],
            Some(&admin),
            json!({"name": "Top"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = h
        .post(
            "/api/v1/tech-groups",
            &[],
            Some(&admin),
            json!({"parent_id": sales, "name": "X"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // A group cannot move under its own descendant.
    let (s, _) = h
        .call(
            Method::PATCH,
            "/api/v1/tech-groups/{id}",
            &[&level2.to_string()],
            Some(&m),
            Some(json!({"parent_id": l3})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    // Technicians: creates in scope, not in Sales; cannot create admins.
    let (s, v) = h
        .post(
            "/api/v1/users",
            &[],
            Some(&admin),
            json!({"role": "technician", "name": "T",
        "email": "t1@acme.test", "password": "Initial1%", "tech_group_id": level2}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let t1 = v["id"].as_i64().unwrap();
    let (s, _) = h
        .post(
            "/api/v1/users",
            &[],
            Some(&admin),
            json!({"role": "technician", "name": "T",
        "email": "t2@acme.test", "password": "Initial1%", "tech_group_id": sales}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = h
        .post(
            "/api/v1/users",
            &[],
            Some(&admin),
            json!({"role": "admin", "name": "A",
        "email": "a2@acme.test", "password": "Initial1%"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // A Sales technician is invisible to the admin; moving ours to Sales is refused.
    let (sales_tech, _) = h.user(&m, "technician", "st@acme.test", Some(sales)).await;
    let (s, _) = h
        .get("/api/v1/users/{id}", &[&sales_tech.to_string()], &admin)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = h
        .call(
            Method::PATCH,
            "/api/v1/users/{id}",
            &[&sales_tech.to_string()],
            Some(&admin),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = h
        .call(
            Method::PATCH,
            "/api/v1/users/{id}",
            &[&t1.to_string()],
            Some(&admin),
            Some(json!({"tech_group_id": sales})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = h
        .call(
            Method::PATCH,
            "/api/v1/users/{id}",
            &[&t1.to_string()],
            Some(&admin),
            Some(json!({"tech_group_id": support})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["tech_group_id"], json!(support));
    let (_, users) = h.get("/api/v1/users", &[], &admin).await;
    let emails: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, vec!["ada@acme.test", "t1@acme.test"]);
    // The tree shows the same scope; admins see no org settings or audit.
    let (_, tree) = h.get("/api/v1/org/tree", &[], &admin).await;
    assert_eq!(tree["tech_groups"].as_array().unwrap().len(), 3);
    assert_eq!(tree["admin_groups"], json!([]));
    for path in [
        "/api/v1/org/settings",
        "/api/v1/audit",
        "/api/v1/audit/verify",
        "/api/v1/outbox",
        "/api/v1/admin-groups",
    ] {
        let (s, v) = h.get(path, &[], &admin).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}: {v}");
    }
    // Technicians reach no administration route.
    let (_, tech) = h
        .user(&m, "technician", "t9@acme.test", Some(support))
        .await;
    for path in [
        "/api/v1/users",
        "/api/v1/tech-groups",
        "/api/v1/channels",
        "/api/v1/org/tree",
    ] {
        let (s, v) = h.get(path, &[], &tech).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}: {v}");
    }
    // ORG-7: save for this node, for its sub-groups, for every group in scope.
    let perms = |p: &[&str]| json!({"permissions": p});
    let sid = support.to_string();
    let (_, v) = h
        .call(
            Method::PUT,
            "/api/v1/tech-groups/{id}/settings?apply=node",
            &[&sid],
            Some(&admin),
            Some(perms(&["chat", "reboot"])),
        )
        .await;
    assert_eq!(v["group_ids"], json!([support]));
    let (_, v) = h
        .call(
            Method::PUT,
            "/api/v1/tech-groups/{id}/settings?apply=subgroups",
            &[&sid],
            Some(&admin),
            Some(perms(&["chat", "clipboard"])),
        )
        .await;
    assert_eq!(v["group_ids"], json!([support, level2, l3]));
    let (_, g) = h
        .get("/api/v1/tech-groups/{id}", &[&l3.to_string()], &admin)
        .await;
    assert_eq!(g["permissions"], json!(["chat", "clipboard"]));
    let (_, v) = h
        .call(
            Method::PUT,
            "/api/v1/tech-groups/{id}/settings?apply=all",
            &[&sid],
            Some(&admin),
            Some(perms(&["chat"])),
        )
        .await;
    assert_eq!(
        v["group_ids"],
        json!([support, level2, l3]),
        "an administrator's 'all' is its scope"
    );
    let (_, g) = h
        .get("/api/v1/tech-groups/{id}", &[&sales.to_string()], &m)
        .await;
    assert_eq!(
        g["permissions"],
        json!(["chat"]),
        "Sales kept its own settings"
    );
    let (_, v) = h
        .call(
            Method::PUT,
            "/api/v1/tech-groups/{id}/settings?apply=all",
            &[&sid],
            Some(&m),
            Some(perms(&["chat", "transfer"])),
        )
        .await;
    assert_eq!(
        v["group_ids"].as_array().unwrap().len(),
        4,
        "a master's 'all' is the organisation"
    );
    // A disabled group locks its technicians out at once.
    let (s, _) = h
        .call(
            Method::PATCH,
            "/api/v1/tech-groups/{id}",
            &[&support.to_string()],
            Some(&admin),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = h.get("/api/v1/me", &[], &tech).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("group_disabled"))
    );
    h.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_scope_is_enforced() {
    for db in backends().await {
        scenario(&db).await;
    }
}
