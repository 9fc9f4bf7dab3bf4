use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use crewtime_domain::production::{NewDepartment, NewProduction};
use crewtime_persistence::TenantTx;
use crewtime_tests::{error_code, TestApp};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::json;

async fn scalar_i64(db: &impl ConnectionTrait, sql: &str) -> i64 {
    db.query_one(Statement::from_string(DbBackend::Postgres, sql.to_owned()))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap()
}

#[tokio::test]
async fn creating_a_production_creates_and_migrates_its_schema() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let data = app
        .gql_ok(
            Some(&admin),
            r#"mutation { createProduction(input: {name: " Night Shoot ", timezone: "Europe/London", currency: "GBP"}) {
                 production { id name timezone currency myRoles } } }"#,
            json!({}),
        )
        .await;
    let p = &data["createProduction"]["production"];
    assert_eq!(p["name"], "Night Shoot");
    assert_eq!(p["timezone"], "Europe/London");
    assert_eq!(p["currency"], "GBP");
    assert_eq!(p["myRoles"], json!(["ADMIN"]));

    let db = app.db().await;
    let schema_tables = scalar_i64(
        &db,
        "SELECT count(*) FROM information_schema.tables t JOIN crewtime.productions p \
         ON t.table_schema = p.schema_name WHERE t.table_name IN ('departments', 'idempotency_keys', 'seaql_migrations')",
    )
    .await;
    assert_eq!(schema_tables, 3);
    // Nothing of a production lands in public.
    let public = scalar_i64(
        &db,
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .await;
    assert_eq!(public, 0);
}

#[tokio::test]
async fn bad_production_input_names_the_field_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    for (name, tz, cur, field) in [
        ("", "UTC", "USD", "name"),
        ("A", "Mars/Base", "USD", "timezone"),
        ("A", "UTC", "DOLLARS", "currency"),
    ] {
        let body = app
            .gql(
                Some(&admin),
                "mutation($n: String!, $t: String!, $c: String!) { createProduction(input: {name: $n, timezone: $t, currency: $c}) { production { id } } }",
                json!({ "n": name, "t": tz, "c": cur }),
            )
            .await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field);
    }
    let db = app.db().await;
    assert_eq!(
        scalar_i64(&db, "SELECT count(*) FROM crewtime.productions").await,
        0
    );
    assert_eq!(
        scalar_i64(
            &db,
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'prod_%'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn a_failure_part_way_through_creation_leaves_nothing_behind() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    // Make the production migration fail after the schema and its first table exist.
    let db = app.db().await;
    db.execute_unprepared(
        "CREATE FUNCTION public.fail_idempotency() RETURNS event_trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands()
                      WHERE object_identity LIKE 'prod_%.idempotency_keys') THEN
             RAISE EXCEPTION 'injected failure';
           END IF;
         END $$;
         CREATE EVENT TRIGGER fail_idempotency ON ddl_command_end EXECUTE FUNCTION public.fail_idempotency();",
    )
    .await
    .unwrap();
    let body = app
        .gql(
            Some(&admin),
            r#"mutation { createProduction(input: {name: "Doomed", timezone: "UTC", currency: "USD"}) { production { id } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), Some("INTERNAL"), "{body}");
    assert_eq!(
        body["errors"][0]["message"], "internal error",
        "no detail leaks"
    );
    assert_eq!(
        scalar_i64(&db, "SELECT count(*) FROM crewtime.productions").await,
        0
    );
    assert_eq!(
        scalar_i64(&db, "SELECT count(*) FROM crewtime.memberships").await,
        0
    );
    assert_eq!(
        scalar_i64(
            &db,
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'prod_%'"
        )
        .await,
        0
    );
    db.execute_unprepared("DROP EVENT TRIGGER fail_idempotency")
        .await
        .unwrap();
    // And the same request succeeds once the fault is gone.
    app.production(&admin, "Doomed").await;
}

#[tokio::test]
async fn productions_cannot_see_each_other() {
    let app = TestApp::spawn().await;
    let alice = app.admin().await;
    let bob = app.admin().await;
    let pa = app.production(&alice, "Alpha").await;
    let pb = app.production(&bob, "Bravo").await;
    let da = app.department(&alice, &pa, "Camera").await;
    let ann = app.crew(&alice, &da, "Ann").await;
    app.department(&bob, &pb, "Grip").await;

    // Bob sees only Bravo and only Grip.
    let mine = app
        .gql_ok(
            Some(&bob),
            "{ productions { edges { node { name departments { edges { node { name } } } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        mine["productions"]["edges"],
        json!([{ "node": { "name": "Bravo", "departments": { "edges": [{ "node": { "name": "Grip" } }] } } }])
    );
    // Everything of Alpha is NOT_FOUND for Bob, never FORBIDDEN.
    let probes = [
        ("query($id: ID!) { production(id: $id) { name } }", pa.clone()),
        ("query($id: ID!) { node(id: $id) { id } }", pa.clone()),
        ("query($id: ID!) { node(id: $id) { id } }", da.clone()),
        // A crew member is read with the membership in one statement: still NOT_FOUND.
        (
            "query($id: ID!) { node(id: $id) { ... on CrewMember { name } } }",
            ann.clone(),
        ),
        (
            "mutation($id: ID!) { createDepartment(input: {productionId: $id, name: \"Spy\"}) { department { id } } }",
            pa.clone(),
        ),
    ];
    for (query, id) in probes {
        let body = app.gql(Some(&bob), query, json!({ "id": id })).await;
        assert_eq!(error_code(&body), Some("NOT_FOUND"), "{query}: {body}");
    }
    // A department of Alpha addressed through Bravo is not found either.
    let body = app
        .gql(
            Some(&bob),
            "query($p: ID!, $d: ID!) { production(id: $p) { department(id: $d) { name } } }",
            json!({ "p": pb, "d": da }),
        )
        .await;
    assert_eq!(error_code(&body), Some("NOT_FOUND"), "{body}");
    // Alice still sees her own.
    let node = app
        .gql_ok(
            Some(&alice),
            "query($id: ID!) { node(id: $id) { ... on Department { name } } }",
            json!({ "id": da }),
        )
        .await;
    assert_eq!(node["node"]["name"], "Camera");
    // A crew member id naming a production that does not exist (so has no schema), and one
    // naming Alpha with no such crew member: NOT_FOUND, nothing else.
    let production_id = |id: &str| -> String {
        let raw = URL_SAFE_NO_PAD.decode(id).expect("base64");
        String::from_utf8(raw).expect("utf-8")["Production:".len()..].to_owned()
    };
    let nowhere = URL_SAFE_NO_PAD.encode(format!(
        "CrewMember:{}:{}",
        uuid::Uuid::now_v7(),
        uuid::Uuid::now_v7()
    ));
    let nobody = URL_SAFE_NO_PAD.encode(format!(
        "CrewMember:{}:{}",
        production_id(&pa),
        uuid::Uuid::now_v7()
    ));
    for id in [nowhere, nobody] {
        let body = app
            .gql(
                Some(&alice),
                "query($id: ID!) { node(id: $id) { ... on CrewMember { name } } }",
                json!({ "id": id }),
            )
            .await;
        assert_eq!(error_code(&body), Some("NOT_FOUND"), "{body}");
    }
}

#[tokio::test]
async fn a_granted_member_sees_the_production_and_others_do_not() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let p = app.production(&admin, "Gamma").await;
    app.create_user("crew@example.com", false).await;
    let crew = app.login("crew@example.com").await;
    let q = "query($id: ID!) { production(id: $id) { name myRoles } }";
    let before = app.gql(Some(&crew), q, json!({ "id": p })).await;
    assert_eq!(error_code(&before), Some("NOT_FOUND"));
    app.gql_ok(
        Some(&admin),
        "mutation($p: ID!) { grantRole(input: {productionId: $p, email: \"crew@example.com\", role: COORDINATOR}) { membership { role } } }",
        json!({ "p": p }),
    )
    .await;
    let after = app.gql_ok(Some(&crew), q, json!({ "id": p })).await;
    assert_eq!(
        after["production"],
        json!({ "name": "Gamma", "myRoles": ["COORDINATOR"] })
    );
    // A coordinator cannot grant roles.
    let body = app
        .gql(
            Some(&crew),
            "mutation($p: ID!) { grantRole(input: {productionId: $p, email: \"crew@example.com\", role: ADMIN}) { membership { role } } }",
            json!({ "p": p }),
        )
        .await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"));
}

#[tokio::test]
async fn a_one_connection_pool_interleaving_two_productions_leaks_nothing() {
    let app = TestApp::spawn().await;
    let store = app.own_store(1).await;
    let owner = store
        .create_user("owner@example.com", crewtime_tests::PASSWORD, true)
        .await
        .unwrap();
    let a = store
        .create_production(
            owner.id,
            &NewProduction::parse("A", "UTC", "USD").unwrap(),
            None,
        )
        .await
        .unwrap();
    let b = store
        .create_production(
            owner.id,
            &NewProduction::parse("B", "UTC", "USD").unwrap(),
            None,
        )
        .await
        .unwrap();
    for i in 0..10 {
        for (p, prefix) in [(&a, "A"), (&b, "B")] {
            let tx = TenantTx::begin(&store, p).await.unwrap();
            assert_eq!(tx.current_search_path().await.unwrap(), p.schema_name);
            let dept = NewDepartment::parse(&format!("{prefix}-{i}"), None).unwrap();
            tx.create_department(owner.id, &dept, None).await.unwrap();
            if i % 3 == 2 {
                // A rolled-back transaction must not leave its path behind either.
                tx.rollback().await.unwrap();
            } else {
                tx.commit().await.unwrap();
            }
            // The one pooled connection, outside any tenant transaction, has no tenant path.
            let path = store.session_search_path().await.unwrap();
            assert!(!path.contains("prod_"), "leaked search_path: {path}");
        }
    }
    for (p, prefix) in [(&a, "A-"), (&b, "B-")] {
        let tx = TenantTx::begin(&store, p).await.unwrap();
        let names: Vec<String> = tx
            .departments(None, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.name)
            .collect();
        tx.commit().await.unwrap();
        assert_eq!(names.len(), 7, "{names:?}");
        assert!(names.iter().all(|n| n.starts_with(prefix)), "{names:?}");
    }
    // Unqualified access outside a tenant transaction finds no tenant table at all.
    let err = store.session_search_path().await.unwrap();
    assert!(!err.contains("prod_"));
}

#[tokio::test]
async fn create_replays_with_the_same_idempotency_key() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let q = "mutation($n: String!) { createProduction(input: {name: $n, timezone: \"UTC\", currency: \"USD\", idempotencyKey: \"k-1\"}) { production { id } } }";
    let first = app.gql_ok(Some(&admin), q, json!({ "n": "Delta" })).await;
    let again = app.gql_ok(Some(&admin), q, json!({ "n": "Delta" })).await;
    assert_eq!(first, again);
    let different = app.gql(Some(&admin), q, json!({ "n": "Echo" })).await;
    assert_eq!(error_code(&different), Some("CONFLICT"));
    let db = app.db().await;
    assert_eq!(
        scalar_i64(&db, "SELECT count(*) FROM crewtime.productions").await,
        1
    );

    let p = first["createProduction"]["production"]["id"]
        .as_str()
        .unwrap();
    let dq = "mutation($p: ID!) { createDepartment(input: {productionId: $p, name: \"Grip\", idempotencyKey: \"d-1\"}) { department { id } } }";
    let d1 = app.gql_ok(Some(&admin), dq, json!({ "p": p })).await;
    let d2 = app.gql_ok(Some(&admin), dq, json!({ "p": p })).await;
    assert_eq!(d1, d2);
    // The same name without the key is a conflict, not a second Grip.
    let dup = app
        .gql(Some(&admin), "mutation($p: ID!) { createDepartment(input: {productionId: $p, name: \"grip\"}) { department { id } } }", json!({ "p": p }))
        .await;
    assert_eq!(error_code(&dup), Some("CONFLICT"));
}

#[tokio::test]
async fn departments_page_with_cursors() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let p = app.production(&admin, "Paging").await;
    for name in ["A", "B", "C", "D", "E"] {
        app.department(&admin, &p, name).await;
    }
    let q = "query($p: ID!, $after: String) { production(id: $p) { departments(first: 2, after: $after) {
               edges { cursor node { name } } pageInfo { hasNextPage endCursor } } } }";
    let mut seen = Vec::new();
    let mut after = serde_json::Value::Null;
    loop {
        let data = app
            .gql_ok(Some(&admin), q, json!({ "p": p, "after": after }))
            .await;
        let conn = &data["production"]["departments"];
        for e in conn["edges"].as_array().unwrap() {
            seen.push(e["node"]["name"].as_str().unwrap().to_owned());
        }
        if !conn["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = conn["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen, ["A", "B", "C", "D", "E"]);
    let bad = app
        .gql(Some(&admin), q, json!({ "p": p, "after": "garbage" }))
        .await;
    assert_eq!(error_code(&bad), Some("BAD_USER_INPUT"));
}
