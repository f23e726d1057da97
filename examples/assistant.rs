//! A personal assistant's grant for email, calendar and payments, written with the constraint
//! kinds a real deployment needs: lists (`each`), optional arguments, typed sets, email
//! addresses, bare hosts and date ranges. Then the calls a prompt-injected assistant would make,
//! and what the executor decides for each.
//!
//! The assistant may email colleagues (every recipient, `cc` optional), schedule meetings this
//! week with colleagues only, look up a public web page by host, and pay two known payees at
//! most 200.00 in EUR. It delegates a narrower calendar-only token to a scheduling sub-agent.
//!
//! Run: `cargo run --example assistant`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use agentcap::*;
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};

fn grant(holder: &AgentKey, id: AgentId, now: OffsetDateTime) -> Result<Grant, Error> {
    let colleague = || Constraint::email(EmailPolicy::domains(["acme.example"])?);
    let this_week = DateRange::new(Some("2026-12-07T00:00:00Z"), Some("2026-12-11T23:59:59Z"))?;
    Grant::builder(id, holder.public(), now + Duration::hours(8))
        .tool(
            "send_email",
            ToolGrant::new()
                .arg("to", Constraint::each(colleague()?, 1, 10)?)
                .arg(
                    "cc",
                    Constraint::optional(Constraint::each(colleague()?, 0, 10)?)?,
                )
                .arg("subject", Constraint::max_length(200)?)
                .arg("body", Constraint::max_length(20_000)?),
        )
        .tool(
            "create_event",
            ToolGrant::new()
                .arg("title", Constraint::max_length(200)?)
                .arg("start", Constraint::date(this_week.clone())?)
                .arg("end", Constraint::date(this_week)?)
                .arg("participants", Constraint::each(colleague()?, 0, 20)?)
                .arg(
                    "location",
                    Constraint::optional(Constraint::max_length(200)?)?,
                ),
        )
        .tool(
            "fetch_page",
            ToolGrant::new().arg("host", Constraint::host(HostPolicy::public())?),
        )
        .tool(
            "send_money",
            ToolGrant::new()
                .arg(
                    "recipient",
                    Constraint::one_of(["DE89370400440532013000", "FR1420041010050500013M02606"])?,
                )
                .arg("amount", Constraint::number_range(0.01, 200.0)?)
                .arg("currency", Constraint::exact("EUR")?)
                .arg(
                    "recurring",
                    Constraint::optional(Constraint::exact_bool(false)?)?,
                )
                .arg(
                    "date",
                    Constraint::date(DateRange::new(Some("2026-12-04"), Some("2026-12-31"))?)?,
                ),
        )
        .max_depth(1)
        .build()
}

fn main() -> Result<(), Error> {
    let now = OffsetDateTime::now_utc();
    let authority = Authority::new(AuthorityId::new("acme-it")?, AuthorityKey::generate(1));
    let executor = ExecutorId::new("assistant-tools")?;
    let verifier = Verifier::builder(
        executor.clone(),
        authority.key().public().into(),
        ["send_email", "create_event", "fetch_page", "send_money"],
    )
    .build()?;
    let (key, id) = (AgentKey::generate(), AgentId::random());
    let token = authority.issue(&grant(&key, id, now)?)?;

    let decide = |token: &Token, key: &AgentKey, tool: &str, args: Value| {
        let call = ToolCall::new(tool, args).expect("a valid call");
        let proof = CallProof::sign(key, token, &executor, &call, OffsetDateTime::now_utc())
            .expect("signed");
        verifier.verify(&token.to_base64().expect("encodes"), &call, &proof)
    };
    let mut failures = 0;
    let mut row = |what: &str, result: Result<Authorized, Denied>, want: bool| {
        let verdict = match &result {
            Ok(_) => "allowed".to_owned(),
            Err(d) => format!("denied   ({})", d.operator_reason()),
        };
        println!("{:<62} {verdict}", what);
        if result.is_ok() != want {
            failures += 1;
        }
    };

    let email = |to: Value, cc: Option<Value>| {
        let mut args = json!({"to": to, "subject": "Q4 plan", "body": "See attached."});
        if let Some(cc) = cc {
            args["cc"] = cc;
        }
        args
    };
    row(
        "email two colleagues, no cc",
        decide(
            &token,
            &key,
            "send_email",
            email(json!(["ana@acme.example", "li@acme.example"]), None),
        ),
        true,
    );
    row(
        "email a colleague, cc another",
        decide(
            &token,
            &key,
            "send_email",
            email(
                json!(["ana@acme.example"]),
                Some(json!(["li@acme.example"])),
            ),
        ),
        true,
    );
    row(
        "injected: an outside address appended after a colleague",
        decide(
            &token,
            &key,
            "send_email",
            email(json!(["ana@acme.example", "drop@evil.example"]), None),
        ),
        false,
    );
    row(
        "injected: the outside address hidden in cc",
        decide(
            &token,
            &key,
            "send_email",
            email(
                json!(["ana@acme.example"]),
                Some(json!(["drop@evil.example"])),
            ),
        ),
        false,
    );
    row(
        "injected: a display name around an outside address",
        decide(
            &token,
            &key,
            "send_email",
            email(json!(["Ana <drop@evil.example>"]), None),
        ),
        false,
    );

    let event = |start: &str, end: &str, who: Value| json!({"title": "Planning", "start": start, "end": end, "participants": who});
    row(
        "a meeting on Tuesday, offsets normalised",
        decide(
            &token,
            &key,
            "create_event",
            event(
                "2026-12-08T10:00:00+01:00",
                "2026-12-08T11:00:00+01:00",
                json!(["ana@acme.example"]),
            ),
        ),
        true,
    );
    row(
        "a meeting next month",
        decide(
            &token,
            &key,
            "create_event",
            event("2027-01-12T10:00:00Z", "2027-01-12T11:00:00Z", json!([])),
        ),
        false,
    );
    row(
        "a meeting with a date in another format",
        decide(
            &token,
            &key,
            "create_event",
            event("Tuesday 10am", "Tuesday 11am", json!([])),
        ),
        false,
    );

    row(
        "fetch a public page by host",
        decide(
            &token,
            &key,
            "fetch_page",
            json!({"host": "www.example.org"}),
        ),
        true,
    );
    row(
        "injected: fetch the cloud metadata address",
        decide(
            &token,
            &key,
            "fetch_page",
            json!({"host": "169.254.169.254"}),
        ),
        false,
    );

    let pay = |amount: Value, extra: Value| {
        let mut args = json!({
            "recipient": "DE89370400440532013000",
            "amount": amount,
            "currency": "EUR",
            "date": "2026-12-15",
        });
        if let (Some(args), Some(extra)) = (args.as_object_mut(), extra.as_object()) {
            args.extend(extra.clone());
        }
        args
    };
    row(
        "pay a known payee 120.50 EUR",
        decide(&token, &key, "send_money", pay(json!(120.5), json!({}))),
        true,
    );
    row(
        "injected: pay 2,000 EUR",
        decide(&token, &key, "send_money", pay(json!(2000), json!({}))),
        false,
    );
    row(
        "injected: pay a new IBAN",
        decide(
            &token,
            &key,
            "send_money",
            pay(json!(10), json!({"recipient": "GB33BUKB20201555555555"})),
        ),
        false,
    );
    row(
        "injected: make it a recurring payment",
        decide(
            &token,
            &key,
            "send_money",
            pay(json!(10), json!({"recurring": true})),
        ),
        false,
    );
    row(
        "injected: the amount as text",
        decide(&token, &key, "send_money", pay(json!("120.50"), json!({}))),
        false,
    );

    // The scheduling sub-agent gets the calendar only, with Ana and Li only.
    let (sub_key, sub_id) = (AgentKey::generate(), AgentId::random());
    let scheduler = token.delegate(
        &key,
        sub_key.public(),
        sub_id,
        Digest::of_message(b"book the planning meeting with Ana and Li"),
        &Narrowing::new().only_tools(["create_event"]).constrain(
            "create_event",
            "participants",
            Constraint::each(
                Constraint::email(EmailPolicy::addresses([
                    "ana@acme.example",
                    "li@acme.example",
                ])?)?,
                1,
                2,
            )?,
        ),
    )?;
    row(
        "sub-agent: book with Ana",
        decide(
            &scheduler,
            &sub_key,
            "create_event",
            event(
                "2026-12-09T14:00:00Z",
                "2026-12-09T15:00:00Z",
                json!(["ana@acme.example"]),
            ),
        ),
        true,
    );
    row(
        "sub-agent: invite someone else",
        decide(
            &scheduler,
            &sub_key,
            "create_event",
            event(
                "2026-12-09T14:00:00Z",
                "2026-12-09T15:00:00Z",
                json!(["bo@acme.example"]),
            ),
        ),
        false,
    );
    row(
        "sub-agent: send an email",
        decide(
            &scheduler,
            &sub_key,
            "send_email",
            email(json!(["ana@acme.example"]), None),
        ),
        false,
    );

    assert_eq!(
        failures, 0,
        "{failures} decisions differ from the expected ones"
    );
    println!("all decisions as expected");
    Ok(())
}
