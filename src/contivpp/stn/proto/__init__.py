"""Generated gRPC code for Contiv's STN API (regenerate with grpc_tools.protoc)."""
