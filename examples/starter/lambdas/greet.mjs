// A lambda in Node: gets hello's answer (config.json: "onSuccess"), answers with a sentence.
const message = JSON.parse(Buffer.from(process.env.PAYLOAD ?? "", "base64").toString("utf8") || "{}");
const gitfaas = process.env.GITFAAS_URL ?? "http://gitfaas:5000";
const response = await fetch(`${gitfaas}/response/${process.env.FUNCTION_UID}`, {
  method: "POST",
  headers: { "content-type": "text/plain" },
  body: `Hello, ${message.hello ?? "world"}!`,
});
console.log("answered:", response.status);
