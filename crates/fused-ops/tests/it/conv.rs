// tests for conv
