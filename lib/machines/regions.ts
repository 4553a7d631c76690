import { getEnv } from "@/shared/env";

export interface RegionOption {
  value: string;
  label: string;
}

const FLY_REGIONS: Record<string, string> = {
  ams: "Amsterdam",
  arn: "Stockholm",
  bom: "Mumbai",
  cdg: "Paris",
  dfw: "Dallas",
  ewr: "Secaucus, NJ",
  fra: "Frankfurt",
  gru: "São Paulo",
  iad: "Ashburn, Virginia",
  jnb: "Johannesburg",
  lax: "Los Angeles",
  lhr: "London",
  nrt: "Tokyo",
  ord: "Chicago",
  sin: "Singapore",
  sjc: "San Jose",
  syd: "Sydney",
  yyz: "Toronto",
};

/**
 * Where this server can run a new instance, default first: the local provider runs machines on
 * this server only; on Fly, the configured region and the other Fly regions.
 */
export function getRegionOptions(): RegionOption[] {
  const env = getEnv();
  if (env.MACHINE_PROVIDER !== "fly") return [{ value: "local", label: "Local — on this server" }];
  const preferred = env.FLY_REGION;
  const others = Object.keys(FLY_REGIONS).filter((code) => code !== preferred);
  return [preferred, ...others].map((code) => ({
    value: code,
    label: `${FLY_REGIONS[code] ?? code.toUpperCase()} (${code})${code === preferred ? " — default" : ""}`,
  }));
}
