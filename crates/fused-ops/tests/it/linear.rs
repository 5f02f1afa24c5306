// tests for linear
