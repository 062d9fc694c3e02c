/** Props every operator tool receives: whose run it serves, so it can scope what it does. */
export interface ToolProps {
  tenant: string;
  /** The run's storage namespace. */
  namespace: string;
  /** The run's egress policy (tools that call out go through the same gateway). */
  egress: { allow: string[]; credentials: string[] };
}
