/**
 * The patterns of the settings a command line also takes (`--app`, `--namespace`, `--region`,
 * `--role-arn`): the deploy config's schema (config.ts) and the CLI check values with the same
 * pattern and message, and the CLI does so without loading the schema library at every start.
 */

export interface SettingPattern {
  pattern: RegExp;
  /** What a value must be, completing "<setting> ...". */
  message: string;
}

/** An app name or namespace: it becomes a label value and a Kubernetes name. */
export const DNS_LABEL: SettingPattern = {
  pattern: /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/,
  message:
    'must be a DNS label (lowercase letters, digits and "-", at most 63 characters): it becomes a label value',
};

/** An AWS region: it becomes part of a host name. */
export const AWS_REGION: SettingPattern = {
  pattern: /^[a-z]{2}(-[a-z]+)+-\d$/,
  message: 'must be an AWS region such as eu-west-1',
};

export const IAM_ROLE_ARN: SettingPattern = {
  pattern: /^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/,
  message: 'must be an IAM role ARN',
};
