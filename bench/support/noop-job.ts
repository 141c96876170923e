/** A Job whose one container does nothing (`true`): what a publish costs with no lambda work in it. */
export function noopJob(name: string, withPayload = true): string {
  const env = withPayload
    ? `
          env:
            - name: PAYLOAD
              value: "{{PAYLOAD}}"`
    : "";
  return `apiVersion: batch/v1
kind: Job
metadata:
  name: ${name}-{{RANDOM}}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: main
          image: busybox
          command: ["true"]${env}
`;
}
