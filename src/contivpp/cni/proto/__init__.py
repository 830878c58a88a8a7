"""Generated gRPC code for Contiv's RemoteCNI API (regenerate with grpc_tools.protoc)."""
