//! [`SimProgram`]: what a simulated container "does", derived from its configuration.

use std::time::Duration;

use kube_core::runtime::ContainerConfig;

/// The environment variable that sets a simulated container's exit code.
pub const SIM_EXIT_CODE: &str = "KUBE_SIM_EXIT_CODE";
/// The environment variable that sets how long a simulated container runs, in
/// milliseconds, before it exits by itself.
pub const SIM_RUN_MILLIS: &str = "KUBE_SIM_RUN_MILLIS";
/// The environment variable whose lines a simulated container writes to stdout at start.
pub const SIM_OUTPUT: &str = "KUBE_SIM_OUTPUT";
/// The environment variable that makes a simulated container ignore the stop signal (it
/// then runs until the grace period ends and is killed).
pub const SIM_IGNORE_TERM: &str = "KUBE_SIM_IGNORE_TERM";
/// The environment variable that sets the exit code of every exec in the container (exec
/// probes see it).
pub const SIM_EXEC_EXIT_CODE: &str = "KUBE_SIM_EXEC_EXIT_CODE";

/// What a simulated container does: how long it runs, how it exits, what it prints, how it
/// answers the stop signal and exec calls.
///
/// [`SimProgram::from_config`] reads it from the container's configuration:
///
/// - the `KUBE_SIM_*` environment variables ([`SIM_RUN_MILLIS`], [`SIM_EXIT_CODE`],
///   [`SIM_OUTPUT`], [`SIM_IGNORE_TERM`], [`SIM_EXEC_EXIT_CODE`]) win;
/// - else a few commands are understood: `sleep N` runs N seconds and exits 0, `true`
///   exits 0 at once, `false` exits 1 at once, `echo ...` prints its arguments and exits 0;
/// - anything else runs until stopped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimProgram {
    /// Exits by itself after this long; `None` runs until stopped.
    pub run_for: Option<Duration>,
    /// The exit code when it exits by itself.
    pub exit_code: i32,
    /// Lines written to stdout when it starts.
    pub output: Vec<String>,
    /// Ignores the stop signal: a stop waits out the grace period, then kills (137).
    pub ignore_term: bool,
    /// The exit code of exec calls (0 by default: exec probes pass).
    pub exec_exit_code: i32,
}

impl SimProgram {
    /// The program a container configuration describes; see the type's docs.
    pub fn from_config(config: &ContainerConfig) -> Self {
        let mut program = Self::from_command(config.command.iter().chain(&config.args));
        for (name, value) in &config.envs {
            match name.as_str() {
                SIM_EXIT_CODE => program.exit_code = value.trim().parse().unwrap_or(1),
                SIM_RUN_MILLIS => {
                    program.run_for = value.trim().parse().ok().map(Duration::from_millis);
                }
                SIM_OUTPUT => program.output = value.lines().map(str::to_owned).collect(),
                SIM_IGNORE_TERM => program.ignore_term = value == "true" || value == "1",
                SIM_EXEC_EXIT_CODE => {
                    program.exec_exit_code = value.trim().parse().unwrap_or(1);
                }
                _ => {}
            }
        }
        program
    }

    fn from_command<'a>(mut argv: impl Iterator<Item = &'a String>) -> Self {
        let Some(cmd) = argv.next() else {
            return Self::default();
        };
        let base = cmd.rsplit('/').next().unwrap_or(cmd);
        match base {
            "sleep" => {
                let secs = argv.next().and_then(|s| s.parse::<f64>().ok());
                Self {
                    run_for: secs
                        .filter(|s| s.is_finite() && *s >= 0.0)
                        .map(Duration::from_secs_f64),
                    ..Self::default()
                }
            }
            "true" => Self {
                run_for: Some(Duration::ZERO),
                ..Self::default()
            },
            "false" => Self {
                run_for: Some(Duration::ZERO),
                exit_code: 1,
                ..Self::default()
            },
            "echo" => Self {
                run_for: Some(Duration::ZERO),
                output: vec![argv.map(String::as_str).collect::<Vec<_>>().join(" ")],
                ..Self::default()
            },
            _ => Self::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(command: &[&str], envs: &[(&str, &str)]) -> ContainerConfig {
        ContainerConfig {
            command: command.iter().map(|s| (*s).to_owned()).collect(),
            envs: envs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn commands_and_env_describe_the_program() {
        let p = SimProgram::from_config(&config(&["sleep", "2"], &[]));
        assert_eq!(p.run_for, Some(Duration::from_secs(2)));
        assert_eq!(p.exit_code, 0);
        let p = SimProgram::from_config(&config(&["/bin/false"], &[]));
        assert_eq!((p.run_for, p.exit_code), (Some(Duration::ZERO), 1));
        let p = SimProgram::from_config(&config(&["echo", "hi", "there"], &[]));
        assert_eq!(p.output, ["hi there"]);
        let p = SimProgram::from_config(&config(&["nginx"], &[]));
        assert_eq!(p.run_for, None);
        let p = SimProgram::from_config(&config(
            &["sleep", "100"],
            &[
                (SIM_RUN_MILLIS, "50"),
                (SIM_EXIT_CODE, "3"),
                (SIM_OUTPUT, "a\nb"),
                (SIM_IGNORE_TERM, "true"),
                (SIM_EXEC_EXIT_CODE, "1"),
            ],
        ));
        assert_eq!(p.run_for, Some(Duration::from_millis(50)));
        assert_eq!(p.exit_code, 3);
        assert_eq!(p.output, ["a", "b"]);
        assert!(p.ignore_term);
        assert_eq!(p.exec_exit_code, 1);
    }
}
