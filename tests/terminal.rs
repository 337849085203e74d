//! `secours console` at a terminal: short commands in, sentences out, the
//! same session as the headless mode's.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::io::Write;

use common::*;

#[test]
fn a_technician_types_short_commands() {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut procs = Procs(vec![]);
    let base = server(&mut procs, dir);
    let (said, mut typed) = console(&mut procs, &base, dir, &["--terminal"]);
    let mut type_line = |l: &str| {
        writeln!(typed, "{l}").unwrap();
        typed.flush().unwrap();
    };
    expect_line(&said, "the welcome", |l| {
        l.contains("Logged in").then_some(())
    });
    type_line("frobnicate");
    expect_line(&said, "the error", |l| {
        l.contains("unknown command").then_some(())
    });
    type_line("pin");
    let pin = expect_line(&said, "the PIN", |l| {
        l.split("PIN ").nth(1).map(|r| r[..6].to_owned())
    });
    let (applet, customer_said, mut customer) = applet(dir, &base, &["--pin", &pin]);
    procs.0.push(applet);
    let short = expect_line(&said, "the queue", |l| {
        l.contains("waiting")
            .then(|| l.split_whitespace().next().unwrap().to_owned())
    });
    // The only session: no name needed once picked up.
    type_line(&format!("pickup {short}"));
    let sas = expect_line(&said, "the SAS", |l| {
        l.split("Short authentication string ")
            .nth(1)
            .map(|r| r[..7].to_owned())
    });
    expect_line(&customer_said, "the same SAS", |l| {
        l.contains(&sas).then_some(())
    });
    type_line("chat Hello from the terminal");
    expect_line(&customer_said, "the chat", |l| {
        (l == "Technician: Hello from the terminal").then_some(())
    });
    writeln!(customer, "Thanks\u{202e}!").unwrap();
    customer.flush().unwrap();
    expect_line(&said, "the customer's chat, neutralised", |l| {
        l.ends_with("customer: Thanks!").then_some(())
    });
    type_line("end Your printer works again.");
    expect_line(&said, "the end", |l| l.contains("ended").then_some(()));
    expect_line(&customer_said, "the technician's last words", |l| {
        (l == "Your technician ended the session: Your printer works again.").then_some(())
    });
    expect_line(&customer_said, "the customer's end", |l| {
        l.contains("The session is over").then_some(())
    });
    type_line("quit");
}
