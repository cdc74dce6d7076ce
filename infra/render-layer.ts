/**
 * The renderers for Kustomize and Helm apps: AWS's own kubectl/helm Lambda layer (the one CDK's
 * EKS module uses), mounted at `/opt/kubectl/kubectl` and `/opt/helm/helm`. Its binaries are
 * x86_64 only, so a function that may render runs on x86_64. An agent whose apps all say
 * `render: plain` needs neither and keeps arm64 (about 20% cheaper per GB-second, and no
 * 123 MB layer to load on a cold start).
 */
import { KubectlV33Layer } from '@aws-cdk/lambda-layer-kubectl-v33';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import type { DriftlessConfig } from '../lambda/config.ts';

export interface RenderRuntime {
  architecture: lambda.Architecture;
  /** The kubectl/helm layer, when an app may render. */
  layer?: lambda.ILayerVersion;
}

/** `auto` (the default) may meet a kustomization or a chart at run time, so it counts as rendering. */
export function renderRuntime(scope: Construct, config: DriftlessConfig): RenderRuntime {
  if (config.apps.every((app) => app.render === 'plain')) return { architecture: lambda.Architecture.ARM_64 };
  return { architecture: lambda.Architecture.X86_64, layer: new KubectlV33Layer(scope, 'RenderLayer') };
}
