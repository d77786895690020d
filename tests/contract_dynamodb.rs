//! The store contract against Amazon DynamoDB Local, over real HTTP through the AWS
//! SDK. Needs AWS_ENDPOINT_URL_DYNAMODB (scripts/test sets it); fails without it.

keyroll_tests::contract_suite!(keyroll_tests::fixture::dynamodb);
