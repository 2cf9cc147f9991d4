import OpenAI from "openai";
export const openai = new OpenAI({
apiKey: "318e9605f38a47ef600277ef44d3611f",
baseURL:
  "https://gslkwh-openai.openai.azure.com/openai/deployments/chat",
defaultQuery: { "api-version": "2023-06-01-preview" },
});
