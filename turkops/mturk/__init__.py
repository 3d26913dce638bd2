"""The crowd-provider adapter: boto3 MTurk gateway, HIT building, answer parsing."""
