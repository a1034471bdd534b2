#!/usr/bin/env bash
# Regenerates Sources/FileFormats/ONNX/onnx.pb.swift from tools/onnx-proto/onnx.proto.
# Dev tooling: run it only when onnx.proto changes (the generated file is committed).
# Needs protoc (Debian's protobuf-compiler) and protoc-gen-swift built from
# apple/swift-protobuf at the version Package.swift names:
#   git clone --branch 1.39.0 https://github.com/apple/swift-protobuf /tmp/swift-protobuf
#   (cd /tmp/swift-protobuf && swift build -c release --product protoc-gen-swift)
#   PROTOC_GEN_SWIFT=/tmp/swift-protobuf/.build/release/protoc-gen-swift tools/onnx-proto/generate.sh
# onnx.proto is copied from the onnx Python package (onnx/onnx.proto; its version is in
# the header comment below the license), unchanged.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
plugin=${PROTOC_GEN_SWIFT:-$(command -v protoc-gen-swift)}
protoc --plugin=protoc-gen-swift="$plugin" --proto_path="$here" \
       --swift_opt=Visibility=Internal --swift_out="$root/Sources/FileFormats/ONNX" onnx.proto
echo "wrote $root/Sources/FileFormats/ONNX/onnx.pb.swift"
