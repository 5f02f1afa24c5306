// tests for norm
