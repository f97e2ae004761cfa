//! Compiles the CRI v1 subset in `proto/` when the `cri` feature is on (needs `protoc`).

fn main() {
    #[cfg(feature = "cri")]
    {
        println!("cargo:rerun-if-changed=proto/runtime_v1.proto");
        if let Err(e) = tonic_prost_build::configure()
            .build_server(true)
            .build_client(true)
            .compile_protos(&["proto/runtime_v1.proto"], &["proto"])
        {
            // A build script reports failure by exiting non-zero with the reason.
            #[allow(clippy::print_stderr)]
            {
                eprintln!(
                    "kube-node: compiling the CRI protocol failed (is protoc installed? \
                     scripts/install-etcd.sh installs it): {e}"
                );
            }
            std::process::exit(1);
        }
    }
}
