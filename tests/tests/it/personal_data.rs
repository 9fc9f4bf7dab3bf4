//! Protected personal data: tax ids and bank details encrypted at rest, masked for most readers,
//! decrypted only for accountants with every read recorded, keys rotated by the command line.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use crewtime_domain::crypto::Key;
use crewtime_tests::{crewtime_bin, error_code, test_env, TestApp, ADD_CREW, PASSWORD};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{json, Value};

const SSN: &str = "123-45-6789";
const SSN_DIGITS: &str = "123456789";
const ROUTING: &str = "021000021";
const ACCOUNT: &str = "4400221188";
const HOLDER: &str = "Max Power";

const OTHER_FEIN: &str = "98-7654321";
const OTHER_ROUTING: &str = "011000015";
const OTHER_ACCOUNT: &str = "55009911";

const KEY_1: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const KEY_2: &str = "f0e1d2c3b4a5968778695a4b3c2d1e0f00112233445566778899aabbccddeeff";
const KEY_3: &str = "1111111111111111111111111111111111111111111111111111111111111111";

const SET: &str = "mutation($c: ID!, $t: TaxIdInput, $b: BankAccountInput, $v: Int!) {
    setPersonalData(input: {crewMemberId: $c, taxId: $t, bank: $b, expectedVersion: $v}) {
      crewMember { name } personalData { taxIdKind taxIdMasked bankAccountMasked version } } }";
const MASKED: &str = "query($id: ID!) { node(id: $id) { ... on CrewMember { name
    personalData { taxIdKind taxIdMasked bankAccountMasked version } } } }";
const FULL: &str = "query($id: ID!) { node(id: $id) { ... on CrewMember { name
    personalDataFull { taxId { kind number } bank { accountHolder routingNumber accountNumber } version } } } }";
const FULL_TAX_ONLY: &str =
    "query($id: ID!) { node(id: $id) { ... on CrewMember { personalDataFull { taxId { number } } } } }";
const FULL_BANK_ONLY: &str = "query($id: ID!) { node(id: $id) { ... on CrewMember { personalDataFull { bank { accountNumber } } } } }";

/// A production with its people: an admin, an accountant, a coordinator, a department head and
/// a crew member who signs in, plus a colleague without an account.
struct Cast {
    production: String,
    admin: String,
    accountant: String,
    coordinator: String,
    head: String,
    crew: String,
    crew_token: String,
    colleague: String,
}

async fn cast(app: &TestApp) -> Cast {
    let (admin, production, dept) = app.production_with_department().await;
    let crew = app
        .gql_ok(
            Some(&admin),
            ADD_CREW,
            json!({ "d": dept, "n": HOLDER, "e": "max@example.com" }),
        )
        .await["addCrewMember"]["crewMember"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let invite = app
        .gql_ok(
            Some(&admin),
            "mutation($c: ID!) { inviteCrewMember(input: {crewMemberId: $c}) { invitationToken } }",
            json!({ "c": crew }),
        )
        .await;
    app.gql_ok(
        None,
        "mutation($t: String!, $p: String!) { acceptInvitation(input: {token: $t, password: $p}) { accessToken } }",
        json!({ "t": invite["inviteCrewMember"]["invitationToken"], "p": PASSWORD }),
    )
    .await;
    let crew_token = app.login("max@example.com").await;
    let colleague = app.crew(&admin, &dept, "Ned").await;
    let grant = "mutation($p: ID!, $e: String!, $r: Role!, $d: ID) { grantRole(input: {productionId: $p, email: $e, role: $r, departmentId: $d}) { membership { role } } }";
    let mut tokens = Vec::new();
    for (email, role, department) in [
        ("acct@example.com", "ACCOUNTANT", None),
        ("coord@example.com", "COORDINATOR", None),
        ("head@example.com", "DEPARTMENT_HEAD", Some(dept.clone())),
    ] {
        app.create_user(email, false).await;
        app.gql_ok(
            Some(&admin),
            grant,
            json!({ "p": production, "e": email, "r": role, "d": department }),
        )
        .await;
        tokens.push(app.login(email).await);
    }
    let [accountant, coordinator, head] = <[String; 3]>::try_from(tokens).unwrap();
    Cast {
        production,
        admin,
        accountant,
        coordinator,
        head,
        crew,
        crew_token,
        colleague,
    }
}

fn tax(kind: &str, number: &str) -> Value {
    json!({ "kind": kind, "number": number })
}

fn bank(holder: &str, routing: &str, account: &str) -> Value {
    json!({ "accountHolder": holder, "routingNumber": routing, "accountNumber": account })
}

async fn set(app: &TestApp, token: &str, crew: &str, t: Value, b: Value, v: i32) -> Value {
    app.gql(
        Some(token),
        SET,
        json!({ "c": crew, "t": t, "b": b, "v": v }),
    )
    .await
}

/// Stores the reference values for `crew` as the admin.
async fn store_reference(app: &TestApp, c: &Cast) {
    let body = set(
        app,
        &c.admin,
        &c.crew,
        tax("SSN", SSN),
        bank(HOLDER, ROUTING, ACCOUNT),
        0,
    )
    .await;
    assert!(body.get("errors").is_none(), "{body}");
}

async fn reads(app: &TestApp) -> i64 {
    app.count_in_production("SELECT count(*) FROM {schema}.personal_data_reads")
        .await
}

/// Every personal_data row as JSON text (bytea shows as hex), for checks of what is at rest;
/// `clear_only` leaves the envelopes out.
async fn rows_as_text(app: &TestApp, clear_only: bool) -> String {
    let schema = app.production_schema().await;
    let row = if clear_only {
        "to_jsonb(p) - 'tax_id_ct' - 'bank_ct'"
    } else {
        "to_jsonb(p)"
    };
    app.db()
        .await
        .query_all(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT ({row})::text FROM {schema}.personal_data p ORDER BY crew_member_id"),
        ))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.try_get_by_index::<String>(0).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// Every run of five digits of the reference numbers.
fn digit_runs() -> Vec<String> {
    [SSN_DIGITS, ROUTING, ACCOUNT]
        .iter()
        .flat_map(|n| n.as_bytes().windows(5))
        .map(|w| String::from_utf8(w.to_vec()).unwrap())
        .collect()
}

/// Asserts that `text` holds none of the reference values, in clear or as the hex of their
/// bytes, and no run of five of their digits as hex (what a plaintext bytea would show).
/// Random hex, timestamps and latencies make clear five-digit runs a matter of chance, so those
/// are checked by [`assert_no_digit_runs`] on text without them.
fn assert_no_reference_plaintext(text: &str) {
    for secret in [SSN_DIGITS, SSN, ROUTING, ACCOUNT, HOLDER] {
        assert!(!text.contains(secret), "{secret} found in: {text}");
        assert!(!text.contains(&hex(secret)), "hex of {secret} found");
    }
    for run in digit_runs() {
        assert!(!text.contains(&hex(&run)), "hex of digits {run} found");
    }
}

/// No five digits in a row of the reference numbers (the last four are allowed: they are kept
/// for masking).
fn assert_no_digit_runs(text: &str) {
    for run in digit_runs() {
        assert!(!text.contains(&run), "digits {run} found in: {text}");
    }
}

#[tokio::test]
async fn an_accountant_reads_back_what_was_stored_and_every_read_is_recorded() {
    let app = TestApp::spawn().await;
    let c = cast(&app).await;
    store_reference(&app, &c).await;
    assert_eq!(reads(&app).await, 0, "writing is not a read");

    // Sent with a request id of our own, which the read record keeps.
    let resp: Value = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(&c.accountant)
        .header("x-request-id", "pii-read-1")
        .json(&json!({ "query": FULL, "variables": { "id": c.crew } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(resp.get("errors").is_none(), "{resp}");
    assert_eq!(
        resp["data"]["node"]["personalDataFull"],
        json!({
            "taxId": { "kind": "SSN", "number": SSN_DIGITS },
            "bank": { "accountHolder": HOLDER, "routingNumber": ROUTING, "accountNumber": ACCOUNT },
            "version": 1,
        })
    );
    assert_eq!(reads(&app).await, 1);
    let schema = app.production_schema().await;
    let record = app
        .db()
        .await
        .query_one(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT u.email, r.request_id, array_to_string(r.fields, ' ') AS fields, \
                 (r.crew_member_id = c.id) AS whose \
                 FROM {schema}.personal_data_reads r JOIN crewtime.users u ON u.id = r.reader_id \
                 JOIN {schema}.crew_members c ON c.email = 'max@example.com'"
            ),
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.try_get::<String>("", "email").unwrap(),
        "acct@example.com"
    );
    assert_eq!(
        record.try_get::<String>("", "request_id").unwrap(),
        "pii-read-1"
    );
    assert_eq!(
        record.try_get::<String>("", "fields").unwrap(),
        "bank.accountHolder bank.accountNumber bank.routingNumber taxId.kind taxId.number version"
    );
    assert!(record.try_get::<bool>("", "whose").unwrap());

    // Each read adds a record, whatever it selects.
    let tax_only = app
        .gql_ok(Some(&c.accountant), FULL_TAX_ONLY, json!({ "id": c.crew }))
        .await;
    assert_eq!(
        tax_only["node"]["personalDataFull"]["taxId"]["number"],
        SSN_DIGITS
    );
    assert_eq!(reads(&app).await, 2);
    // A crew member with nothing stored reads as null and discloses nothing.
    let none = app
        .gql_ok(Some(&c.accountant), FULL, json!({ "id": c.colleague }))
        .await;
    assert_eq!(none["node"]["personalDataFull"], Value::Null);
    assert_eq!(reads(&app).await, 2);
}

#[tokio::test]
async fn masked_for_money_roles_and_the_crew_member_forbidden_to_others() {
    let app = TestApp::spawn().await;
    let c = cast(&app).await;
    // The crew member stores their own.
    let own = set(
        &app,
        &c.crew_token,
        &c.crew,
        tax("SSN", SSN),
        bank(HOLDER, ROUTING, ACCOUNT),
        0,
    )
    .await;
    let masked = json!({ "taxIdKind": "SSN", "taxIdMasked": "***-**-6789", "bankAccountMasked": "****1188", "version": 1 });
    assert_eq!(
        own["data"]["setPersonalData"]["personalData"], masked,
        "{own}"
    );
    for token in [&c.admin, &c.accountant, &c.crew_token] {
        let body = app
            .gql_ok(Some(token), MASKED, json!({ "id": c.crew }))
            .await;
        assert_eq!(body["node"]["personalData"], masked);
    }
    for token in [&c.coordinator, &c.head] {
        let body = app.gql(Some(token), MASKED, json!({ "id": c.crew })).await;
        assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
        assert_eq!(body["errors"][0]["path"], json!(["node", "personalData"]));
        assert_eq!(body["data"]["node"]["name"], HOLDER, "the rest arrives");
    }
    // Decrypted values: accountants only, not admins, not the crew member themself.
    for token in [&c.admin, &c.coordinator, &c.head, &c.crew_token] {
        let body = app.gql(Some(token), FULL, json!({ "id": c.crew })).await;
        assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
        assert_eq!(body["data"]["node"]["personalDataFull"], Value::Null);
        assert_no_reference_plaintext(&body.to_string().replace(HOLDER, ""));
    }
    assert_eq!(reads(&app).await, 0, "refused reads disclose nothing");
    // Setting: money roles and the crew member for themself only.
    for (token, crew) in [
        (&c.coordinator, &c.crew),
        (&c.head, &c.crew),
        (&c.crew_token, &c.colleague),
    ] {
        let body = set(&app, token, crew, tax("FEIN", OTHER_FEIN), Value::Null, 0).await;
        assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    }
    let accountant_sets = set(
        &app,
        &c.accountant,
        &c.colleague,
        tax("FEIN", OTHER_FEIN),
        Value::Null,
        0,
    )
    .await;
    assert_eq!(
        accountant_sets["data"]["setPersonalData"]["personalData"],
        json!({ "taxIdKind": "FEIN", "taxIdMasked": "**-***4321", "bankAccountMasked": null, "version": 1 })
    );
    // Another production's member cannot tell whether the crew member exists.
    let outsider = app.admin().await;
    let body = app
        .gql(Some(&outsider), MASKED, json!({ "id": c.crew }))
        .await;
    assert_eq!(error_code(&body), Some("NOT_FOUND"), "{body}");
    let _ = c.production;
}

#[tokio::test]
async fn the_stored_row_holds_no_plaintext() {
    let app = TestApp::spawn().await;
    let c = cast(&app).await;
    store_reference(&app, &c).await;
    let text = rows_as_text(&app, false).await;
    assert!(
        text.contains("\"tax_id_ct\": \"\\\\x01"),
        "an envelope: {text}"
    );
    assert_no_reference_plaintext(&text);
    let clear = rows_as_text(&app, true).await;
    assert!(
        clear.contains("\"tax_id_last4\": \"6789\""),
        "last four kept: {clear}"
    );
    assert!(clear.contains("\"bank_last4\": \"1188\""), "{clear}");
    assert_no_digit_runs(&clear);
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_crew_member_does_not_decrypt() {
    let app = TestApp::spawn().await;
    let c = cast(&app).await;
    store_reference(&app, &c).await;
    let other = set(
        &app,
        &c.admin,
        &c.colleague,
        tax("FEIN", OTHER_FEIN),
        bank("Ned Co", OTHER_ROUTING, OTHER_ACCOUNT),
        0,
    )
    .await;
    assert!(other.get("errors").is_none(), "{other}");
    let schema = app.production_schema().await;
    app.db()
        .await
        .execute(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "UPDATE {schema}.personal_data SET tax_id_ct = \
                 (SELECT p.tax_id_ct FROM {schema}.personal_data p JOIN {schema}.crew_members c \
                  ON c.id = p.crew_member_id WHERE c.email = 'max@example.com') \
                 WHERE crew_member_id <> (SELECT id FROM {schema}.crew_members WHERE email = 'max@example.com')"
            ),
        ))
        .await
        .unwrap();
    let body = app
        .gql(Some(&c.accountant), FULL, json!({ "id": c.colleague }))
        .await;
    assert_eq!(error_code(&body), Some("INTERNAL"), "{body}");
    assert_eq!(body["errors"][0]["message"], "internal error");
    let text = body.to_string();
    assert_no_reference_plaintext(&text.replace(HOLDER, ""));
    assert!(
        !text.contains("7654321") && !text.contains(OTHER_ACCOUNT),
        "{text}"
    );
    assert_eq!(reads(&app).await, 0, "a read that failed disclosed nothing");
    // The bank details, sealed in their own place, still read; the original row is intact.
    let bank_only = app
        .gql_ok(
            Some(&c.accountant),
            FULL_BANK_ONLY,
            json!({ "id": c.colleague }),
        )
        .await;
    assert_eq!(
        bank_only["node"]["personalDataFull"]["bank"]["accountNumber"],
        OTHER_ACCOUNT
    );
    let own = app
        .gql_ok(Some(&c.accountant), FULL_TAX_ONLY, json!({ "id": c.crew }))
        .await;
    assert_eq!(
        own["node"]["personalDataFull"]["taxId"]["number"],
        SSN_DIGITS
    );
}

#[tokio::test]
async fn bad_personal_data_names_the_field_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let c = cast(&app).await;
    store_reference(&app, &c).await;
    let good_tax = tax("SSN", "234-56-7890");
    let good_bank = bank("Max Power", OTHER_ROUTING, "99887766");
    for (t, b, field, secret) in [
        (
            tax("SSN", "23456789"),
            good_bank.clone(),
            "taxId.number",
            "23456789",
        ),
        (
            tax("SSN", "000-12-3456"),
            good_bank.clone(),
            "taxId.number",
            "0001234",
        ),
        (
            tax("SSN", "9876-54-321"),
            Value::Null,
            "taxId.number",
            "98765",
        ),
        (
            tax("FEIN", "12-34567x9"),
            Value::Null,
            "taxId.number",
            "34567x9",
        ),
        (
            good_tax.clone(),
            bank("Max", "021000022", "99887766"),
            "bank.routingNumber",
            "021000022",
        ),
        (
            good_tax.clone(),
            bank("Max", "0210000", "99887766"),
            "bank.routingNumber",
            "0210000",
        ),
        (
            good_tax.clone(),
            bank("Max", ROUTING, "123"),
            "bank.accountNumber",
            "\"123\"",
        ),
        (
            good_tax.clone(),
            bank("Max", ROUTING, &"7".repeat(18)),
            "bank.accountNumber",
            "777777",
        ),
        (
            good_tax.clone(),
            bank("  ", ROUTING, "99887766"),
            "bank.accountHolder",
            "99887766",
        ),
        (Value::Null, Value::Null, "taxId", "\"taxId\":{"),
    ] {
        let body = set(&app, &c.admin, &c.crew, t.clone(), b.clone(), 1).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{t} {b}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
        assert!(
            !body["errors"].to_string().contains(secret),
            "the error echoes the input: {body}"
        );
    }
    // A number sent as a JSON number is refused by type, without being quoted back.
    let typed = app
        .gql(
            Some(&c.admin),
            SET,
            json!({ "c": c.crew, "t": { "kind": "SSN", "number": 234567890 }, "b": null, "v": 1 }),
        )
        .await;
    assert_eq!(error_code(&typed), Some("BAD_USER_INPUT"), "{typed}");
    assert!(!typed.to_string().contains("234567890"), "{typed}");
    let bad_id = app
        .gql(
            Some(&c.admin),
            SET,
            json!({ "c": "garbage", "t": good_tax, "b": null, "v": 1 }),
        )
        .await;
    assert_eq!(
        bad_id["errors"][0]["extensions"]["field"], "crewMemberId",
        "{bad_id}"
    );
    // A stale version is a conflict, and changes nothing either.
    let stale = set(&app, &c.admin, &c.crew, good_tax.clone(), Value::Null, 0).await;
    assert_eq!(error_code(&stale), Some("CONFLICT"), "{stale}");
    let masked = app
        .gql_ok(Some(&c.admin), MASKED, json!({ "id": c.crew }))
        .await;
    assert_eq!(
        masked["node"]["personalData"],
        json!({ "taxIdKind": "SSN", "taxIdMasked": "***-**-6789", "bankAccountMasked": "****1188", "version": 1 })
    );
    let full = app
        .gql_ok(Some(&c.accountant), FULL, json!({ "id": c.crew }))
        .await;
    assert_eq!(
        full["node"]["personalDataFull"]["bank"]["accountNumber"],
        ACCOUNT
    );
    // A part left out keeps what is stored.
    let bank_only = set(&app, &c.admin, &c.crew, Value::Null, good_bank, 1).await;
    assert_eq!(
        bank_only["data"]["setPersonalData"]["personalData"],
        json!({ "taxIdKind": "SSN", "taxIdMasked": "***-**-6789", "bankAccountMasked": "****7766", "version": 2 }),
        "{bank_only}"
    );
}

fn crewtime(env: &HashMap<String, String>, args: &[&str]) -> std::process::Output {
    Command::new(crewtime_bin())
        .args(args)
        .env_clear()
        .envs(env)
        .env("CREWTIME_LOG", "warn")
        .output()
        .expect("crewtime runs")
}

fn with_keys(url: &str, current: &str, old: &str) -> HashMap<String, String> {
    let mut env = test_env(url);
    env.insert("CREWTIME_ENCRYPTION_KEY".into(), current.into());
    env.insert("CREWTIME_ENCRYPTION_OLD_KEYS".into(), old.into());
    env
}

#[tokio::test]
async fn keys_rotate_re_encrypts_under_the_new_key() {
    let app = TestApp::spawn_with(|env| {
        env.insert("CREWTIME_ENCRYPTION_KEY".into(), KEY_1.into());
    })
    .await;
    let c = cast(&app).await;
    store_reference(&app, &c).await;
    let url = app.database_url.clone();
    let key_id = |hex: &str| Key::from_hex(hex).unwrap().id().to_string();
    let stored_key = || async {
        let schema = app.production_schema().await;
        app.db()
            .await
            .query_one(Statement::from_string(
                DbBackend::Postgres,
                format!("SELECT key_id FROM {schema}.personal_data"),
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<String>(0)
            .unwrap()
    };
    assert_eq!(stored_key().await, key_id(KEY_1));

    // Without the old key the rotation cannot open the row: it says which key, and stops.
    let blind = crewtime(&with_keys(&url, KEY_2, ""), &["keys", "rotate"]);
    assert!(!blind.status.success());
    let stderr = String::from_utf8_lossy(&blind.stderr);
    assert!(
        stderr.contains(&key_id(KEY_1)) && stderr.contains("not configured"),
        "{stderr}"
    );
    assert_no_reference_plaintext(&stderr);
    assert_eq!(stored_key().await, key_id(KEY_1));

    let out = crewtime(&with_keys(&url, KEY_2, KEY_1), &["keys", "rotate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains(&format!("1 re-encrypted, 1 under key {}", key_id(KEY_2))),
        "{stdout}"
    );
    assert_no_reference_plaintext(&stdout);
    assert_eq!(stored_key().await, key_id(KEY_2));
    let before = rows_as_text(&app, false).await;
    // Idempotent: a second run re-encrypts nothing and leaves the row as it is.
    let again = crewtime(&with_keys(&url, KEY_2, KEY_1), &["keys", "rotate"]);
    assert!(again.status.success());
    assert!(String::from_utf8(again.stdout)
        .unwrap()
        .contains("0 re-encrypted, 1 under key"),);
    assert_eq!(rows_as_text(&app, false).await, before);

    // A server with only the new key reads the data back...
    let new_only = TestApp::spawn_on(url.clone(), |env| {
        env.insert("CREWTIME_ENCRYPTION_KEY".into(), KEY_2.into());
    })
    .await;
    let read = new_only
        .gql_ok(Some(&c.accountant), FULL, json!({ "id": c.crew }))
        .await;
    assert_eq!(
        read["node"]["personalDataFull"]["taxId"]["number"],
        SSN_DIGITS
    );
    assert_eq!(
        read["node"]["personalDataFull"]["bank"]["accountNumber"],
        ACCOUNT
    );
    assert_eq!(
        read["node"]["personalDataFull"]["version"], 1,
        "rotation is not an edit"
    );
    // ...while one with only the old key cannot, and leaks nothing trying.
    let old_only = TestApp::spawn_on(url.clone(), |env| {
        env.insert("CREWTIME_ENCRYPTION_KEY".into(), KEY_1.into());
    })
    .await;
    let refused = old_only
        .gql(Some(&c.accountant), FULL, json!({ "id": c.crew }))
        .await;
    assert_eq!(error_code(&refused), Some("INTERNAL"), "{refused}");
    assert_no_reference_plaintext(&refused.to_string().replace(HOLDER, ""));
    // Masked reads need no key at all.
    let masked = old_only
        .gql_ok(Some(&c.admin), MASKED, json!({ "id": c.crew }))
        .await;
    assert_eq!(masked["node"]["personalData"]["taxIdMasked"], "***-**-6789");
    // A third key with the second as old: the rotation moves on again.
    let third = crewtime(&with_keys(&url, KEY_3, KEY_2), &["keys", "rotate"]);
    assert!(third.status.success());
    assert_eq!(stored_key().await, key_id(KEY_3));
    new_only.stop().await;
    old_only.stop().await;
}

#[tokio::test]
async fn nothing_sensitive_reaches_the_logs_even_at_trace_level() {
    let app = TestApp::spawn().await;
    let c = cast(&app).await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = Command::new(crewtime_bin())
        .arg("serve")
        .env_clear()
        .envs(test_env(&app.database_url))
        .env("CREWTIME_BIND", format!("127.0.0.1:{port}"))
        .env("CREWTIME_LOG", "trace")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "server never answered");
    let post = |token: &str, query: &str, variables: Value| {
        client
            .post(format!("{base}/graphql"))
            .bearer_auth(token.to_owned())
            .json(&json!({ "query": query, "variables": variables }))
            .send()
    };
    // A write, a refused write, a read, and a read that fails inside decryption.
    let ok = post(
        &c.admin,
        SET,
        json!({ "c": c.crew, "t": tax("SSN", SSN), "b": bank(HOLDER, ROUTING, ACCOUNT), "v": 0 }),
    )
    .await
    .unwrap();
    assert_eq!(ok.status(), 200);
    post(
        &c.admin,
        SET,
        json!({ "c": c.crew, "t": tax("SSN", SSN), "b": bank(HOLDER, "021000022", ACCOUNT), "v": 1 }),
    )
    .await
    .unwrap();
    let read: Value = post(&c.accountant, FULL, json!({ "id": c.crew }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        read["data"]["node"]["personalDataFull"]["taxId"]["number"],
        SSN_DIGITS
    );
    let schema = app.production_schema().await;
    app.db()
        .await
        .execute(Statement::from_string(
            DbBackend::Postgres,
            format!("UPDATE {schema}.personal_data SET bank_ct = tax_id_ct"),
        ))
        .await
        .unwrap();
    let failed: Value = post(&c.accountant, FULL, json!({ "id": c.crew }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(error_code(&failed), Some("INTERNAL"));
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut logs = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut logs).unwrap();
    let _ = child.wait();
    assert!(logs.contains("request finished"), "{logs}");
    assert!(
        logs.contains("bank_account: the ciphertext failed authentication"),
        "the fault is logged, by field: {logs}"
    );
    assert_no_reference_plaintext(&logs);
}
